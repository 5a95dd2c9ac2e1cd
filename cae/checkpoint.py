"""Save and load a trained CAE: its architecture value and weights, nothing executable.

Files hold only plain containers and tensors, so loading uses ``torch.load(weights_only=True)``
and never unpickles arbitrary objects. The architecture value includes the image's shape (channels
in and out, size), so a checkpoint rebuilds the same network for whatever images it was trained on.

A file is checked as it is read: a cut, overwritten or damaged file, one that is no checkpoint of this
project, one whose weights do not fit its architecture or hold NaN, or (given ``expected``) one of another
network, raises :class:`CheckpointError` saying which, never the reader's own error from deep inside.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from cae.builder import CAE, build
from cae.spec import Architecture


class CheckpointError(ValueError):
    """A file that is not a whole, sound checkpoint of the expected network; ``problem`` says why, without the path."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def save_checkpoint(model: CAE, path: Path) -> Path:
    """Write ``model``'s architecture (:meth:`~cae.spec.Architecture.to_dict`) and weights (on the CPU) to ``path``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save({"architecture": model.arch.to_dict(), "state_dict": state}, path)
    return path


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read(path: Path) -> Any:
    """What ``torch.load`` makes of the file, after its zip archive's CRC-32 sums are checked (torch's reader checks none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else _first_line(error)
        raise CheckpointError(path, f"is not a whole checkpoint: not the zip archive torch.save writes ({reason})") from None
    if damaged is not None:
        raise CheckpointError(path, f"is damaged: its entry {damaged} fails its CRC-32 check")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # whatever the reader raises for content it cannot take
        raise CheckpointError(path, f"cannot be read as a checkpoint ({_first_line(error)})") from None


def _misfit(wanted: dict[str, torch.Tensor], stored: dict[Any, Any]) -> str | None:
    """The first way ``stored`` weights differ from the ``wanted`` ones in name or shape; ``None`` if they fit."""
    missing = [name for name in wanted if name not in stored]
    if missing:
        return f"{len(missing)} missing, the first {missing[0]}"
    unexpected = [repr(name) for name in stored if name not in wanted]
    if unexpected:
        return f"{len(unexpected)} unexpected, the first {unexpected[0]}"
    for name, tensor in wanted.items():
        value = stored[name]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            found = "×".join(map(str, value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__
            return f"{name} is {found or 'a scalar'}, expected {'×'.join(map(str, tensor.shape)) or 'a scalar'}"
    return None


def load_checkpoint(path: Path, expected: Architecture | None = None) -> CAE:
    """The model saved at ``path``, rebuilt from its architecture with its weights, on the CPU, in eval mode.

    ``expected``: the architecture the file must hold (compared before any network is built from the file).

    Raises:
        CheckpointError: the file is cut, damaged or not a checkpoint, holds another network than ``expected``,
            or weights that do not fit its architecture or are not finite.
    """
    stored = _read(path)
    if not (isinstance(stored, dict) and isinstance(stored.get("architecture"), dict) and isinstance(stored.get("state_dict"), dict)):
        keys = [repr(key)[:40] for key in stored][:4] if isinstance(stored, dict) else []
        kind = f"a dict of {', '.join(keys) or 'nothing'}" if isinstance(stored, dict) else f"a {type(stored).__name__}"
        problem = f"is not a checkpoint of this project: expected a dict of an 'architecture' and a 'state_dict', found {kind}"
        raise CheckpointError(path, problem)
    try:  # the file's content is untrusted: whatever the parser raises for it is the file's fault
        arch = Architecture.from_dict(stored["architecture"])
    except Exception as error:
        problem = f"holds an architecture this version cannot read ({type(error).__name__}: {_first_line(error)})"
        raise CheckpointError(path, problem) from None
    if expected is not None and arch != expected:
        raise CheckpointError(
            path,
            f"holds another network than expected ({arch.latent_size:,} latent values, {arch.n_params:,} parameters; "
            f"expected {expected.latent_size:,} and {expected.n_params:,})",
        )
    state = stored["state_dict"]
    try:
        model = build(arch)
    except Exception as error:
        problem = f"holds an architecture this version cannot build ({type(error).__name__}: {_first_line(error)})"
        raise CheckpointError(path, problem) from None
    if misfit := _misfit(model.state_dict(), state):
        raise CheckpointError(path, f"holds weights that do not fit its architecture ({misfit})")
    model.load_state_dict(state)
    non_finite = [name for name, tensor in state.items() if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if non_finite:
        more = f" and {len(non_finite) - 1} more" if len(non_finite) > 1 else ""
        raise CheckpointError(path, f"holds non-finite weights (NaN or infinite: {non_finite[0]}{more})")
    return model.eval()
