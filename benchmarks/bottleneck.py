"""Where does a design run out of room? One stored design, one part changed at a time, at fixed latent sizes.

With ``model.linear_skip`` the encoder adds a learned correction to the PCA code (through its last conv's
``latent_channels × 4 × 4`` features and a dense layer) and the decoder refines PCA's image through an
hourglass. This benchmark trains one study design (default: the flagship's trial 0) at each latent size
with each variant, side by side, the same data and epochs, and reports every trial's gain over PCA.
Variants: ``base``; ``latent_channels=C``, the encoder's last conv before its dense layer; and
``decoder_bottleneck=S``, the refining hourglass narrowing to ``S × S`` maps (what ``model.refine_depth``
builds from a template, done here on the stored, explicit design)::

    python -m benchmarks.bottleneck --study flagship --trial 0 --sizes 128 256 --variants base latent_channels=32 \
        --epochs 4 --subset 12000 --workers 2 --into bottleneck

Results go to ``benchmarks/results/<into>.json`` (and the study ``<into>`` in ``studies/``).
"""

from __future__ import annotations

import argparse
import copy
import json
from typing import Any

import optuna

import search
from benchmarks.common import RESULTS, machine
from search.refits import choose_designs, refit_space
from search.runtime.storage import default_storage, load_study
from search.trials.record import read_trial


def latent_channels(design: dict[str, Any], channels: int) -> None:
    """The encoder's last conv (the one before its dense layer) gives ``channels`` maps."""
    encoder = design["architecture"]["encoder"]
    dense = max(i for i, layer in enumerate(encoder) if layer["kind"] == "dense")
    conv = max(i for i, layer in enumerate(encoder[:dense]) if layer["kind"] == "conv")
    encoder[conv]["out_channels"] = channels


def decoder_bottleneck(design: dict[str, Any], size: int) -> None:
    """The decoder's hourglass (it refines PCA's image) narrows to ``size × size`` maps: each halving of the
    default's 4 × 4 drops one stride-2 conv's stride and one upsample with the conv after it."""
    decoder = design["architecture"]["decoder"]
    deepest = 32 // 2 ** sum(1 for layer in decoder if layer.get("stride") == 2)
    while deepest < size:
        first = next(i for i, layer in enumerate(decoder) if layer.get("stride") == 2)
        decoder[first]["stride"] = 1
        up = next(i for i, layer in enumerate(decoder) if layer["kind"] == "upsample")
        del decoder[up : up + 2]
        deepest *= 2


VARIANTS = {"latent_channels": latent_channels, "decoder_bottleneck": decoder_bottleneck}


def variant(design: dict[str, Any], spec: str) -> dict[str, Any]:
    """``design`` changed by ``spec`` (``base``, or ``KEY=N`` for a key of :data:`VARIANTS`), named in its lineage."""
    design = copy.deepcopy(design)
    if spec != "base":
        key, value = spec.split("=")
        VARIANTS[key](design, int(value))
    design["lineage"]["variant"] = spec
    return design


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bottleneck", description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="flagship")
    parser.add_argument("--trial", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument(
        "--variants", nargs="+", default=["base", "latent_channels=32"], help=f"base or KEY=N, KEY in {', '.join(VARIANTS)}"
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--subset", type=int, default=12000, help="images drawn for the splits (0: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--into", default="bottleneck")
    args = parser.parse_args(argv)

    parent, _ = load_study(args.study, default_storage(args.study))
    base = choose_designs(parent, trials=[args.trial], latent=args.sizes)
    designs = [variant(d, v) for d in base for v in args.variants]
    space = refit_space(parent, designs, args.epochs, args.into)
    space["data"]["subset"] = args.subset or None  # 0: every training image
    study = search.optimize(space, trials=len(designs), storage=default_storage(args.into), workers=args.workers, progress=True)
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        record = read_trial(trial)
        rows.append(
            {
                "latent": record.latent_size,
                "variant": (record.lineage or {}).get("variant"),
                "n_params": record.n_params,
                "test_psnr": record.test_psnr,
                "gain_db": record.gain_db,
                "val_mse": list(record.val_mse or ()),
                "train_seconds": record.train_seconds,
            }
        )
    rows.sort(key=lambda r: (r["latent"], args.variants.index(r["variant"])))
    for r in rows:
        print(
            f"latent {r['latent']:4d}  {r['variant']:22s}  {r['test_psnr']:.2f} dB  gain {r['gain_db']:+.2f} dB  "
            f"{r['train_seconds'] / 60:.1f} min"
        )
    out = RESULTS / f"{args.into}.json"
    out.write_text(json.dumps({"machine": machine(), "args": vars(args), "trials": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
