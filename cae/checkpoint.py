"""Save and load a trained CAE: its architecture value and weights, nothing executable.

Files hold only plain containers and tensors, so loading uses ``torch.load(weights_only=True)``
and never unpickles arbitrary objects. The architecture value includes the image's shape (channels
in and out, size), so a checkpoint rebuilds the same network for whatever images it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cae.builder import CAE, build
from cae.spec import Architecture


def save_checkpoint(model: CAE, path: Path) -> Path:
    """Write ``model``'s architecture (:meth:`~cae.spec.Architecture.to_dict`) and weights (on the CPU) to ``path``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save({"architecture": model.arch.to_dict(), "state_dict": state}, path)
    return path


def load_checkpoint(path: Path) -> CAE:
    """The model saved at ``path``, rebuilt from its architecture with its weights, on the CPU, in eval mode."""
    stored = torch.load(path, map_location="cpu", weights_only=True)
    model = build(Architecture.from_dict(stored["architecture"]))
    model.load_state_dict(stored["state_dict"])
    return model.eval()
