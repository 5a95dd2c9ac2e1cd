"""``transfer.md`` and the files :func:`render` writes."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.transfer.figures import plot
from analysis.transfer.pretraining import TransferResult
from analysis.transfer.reading import reading, setup
from analysis.transfer.tables import accuracy_table, epochs_table, seconds_table, summary
from cae.figures import DPI


def report(result: TransferResult, files: dict[str, Path]) -> str:
    lines = [f"# Does autoencoder pretraining pay? Study {result.study}", "", setup(result), ""]
    for info in result.trials:
        skip = ", a linear_skip network (its code is PCA's plus a learned correction)" if info.linear_skip else ""
        psnr = f", reconstruction {info.test_psnr:.2f} dB" if info.test_psnr is not None else ""
        lines += [
            f"## {info.name}: latent {info.latent_size:,}{skip}{psnr}",
            "",
            "Test accuracy (%), mean ± standard deviation over seeds:",
            "",
            accuracy_table(result, info).to_markdown(index=False),
            "",
            f"Wall seconds per run on this machine (encoding the frozen codes once: {info.encode_seconds:.1f} s; "
            f"{info.encoder_params:,} encoder weights):",
            "",
            seconds_table(result, info).to_markdown(index=False),
            "",
            "Chosen on validation: the networks' epoch (per seed, of those trained), the linear probes' C:",
            "",
            epochs_table(result, info).to_markdown(index=False),
            "",
            reading(result, info),
            "",
        ]
    lines += [f"![test accuracy against labels]({files['png'].name})", ""]
    return "\n".join(lines)


def render(result: TransferResult, out: Path) -> dict[str, Path]:
    """Write ``transfer.csv``, ``transfer.json``, ``transfer.png`` and ``transfer.md`` into ``out``."""
    files = {name: out / f"transfer.{name}" for name in ("csv", "json", "png", "md")}
    result.table().to_csv(files["csv"], index=False)
    files["json"].write_text(json.dumps(summary(result), indent=2) + "\n")
    plot(result).savefig(files["png"], dpi=DPI)
    files["md"].write_text(report(result, files))
    return files
