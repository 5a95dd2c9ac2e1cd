"""Every shipped space's outputs, seeded, as data: to show a refactoring changed none of them (issue 33).

    python -m benchmarks.space_outputs --out before.json      # on the code before the change
    python -m benchmarks.space_outputs --out after.json --against before.json

Runs a two-trial study of each ``spaces/*.yaml`` (the space's own seeded sampler, one epoch on 600 images, one
torch thread) in a temporary folder (its default ``studies/`` there: a space that starts from another's study, as
colorize.yaml starts from latent's, runs after it), and writes each trial's state, parameters, values and curves. With
``--against`` it compares with an earlier file and exits 1 naming what differs. MNIST spaces read
``../shared/data/mnist`` (or ``--mnist``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ["train.epochs=1", "data.subset=600"]


def outputs(space: Path, mnist: Path) -> list[dict[str, Any]]:
    """The trials of a two-trial study of ``space``: what the refactoring must leave unchanged."""
    import search
    from search.space import load_space

    overrides = list(OVERRIDES)
    if load_space(space).data.dataset == "mnist":
        overrides.append(f"data.root={mnist}")
    try:
        study = search.optimize(space, trials=2, overrides=overrides)
    except Exception as error:  # a refusal is an output too: it must stay the same
        return [{"error": f"{type(error).__name__}: {error}"}]
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "values": t.values,
            "val_mse": t.user_attrs.get("val_mse"),
            "test_mse": t.user_attrs.get("test_mse"),
        }
        for t in study.get_trials(deepcopy=False)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--against", type=Path)
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("spaces", nargs="*", type=Path, default=sorted((ROOT / "spaces").glob("*.yaml")))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    found: dict[str, Any] = {}
    spaces = sorted((path.resolve() for path in args.spaces), key=lambda path: "start:" in path.read_text())  # parents first
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        for space in spaces:
            found[space.name] = outputs(space, args.mnist.resolve())
            print(f"{space.name}: {[t.get('values', t.get('error')) for t in found[space.name]]}", flush=True)
        os.chdir(here)
    args.out.write_text(json.dumps(found, indent=1) + "\n")
    if args.against is None:
        return 0
    before = json.loads(args.against.read_text())
    differ = [name for name in sorted(set(before) | set(found)) if before.get(name) != found.get(name)]
    for name in differ:
        print(f"differs: {name}", file=sys.stderr)
    print(f"{len(found) - len(differ)} of {len(found)} spaces give the same trials as {args.against}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
