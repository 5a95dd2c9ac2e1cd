"""An architecture's layer-by-layer summary as a rich table (shapes, values, parameters)."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from cae.layers import describe
from cae.spec import Architecture


def _shape(shape: tuple[int, int, int]) -> str:
    return "×".join(map(str, shape))


def summary_table(arch: Architecture, *, title: str = "architecture") -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("part", "left"),
        ("#", "right"),
        ("layer", "left"),
        ("output C×H×W", "right"),
        ("values", "right"),
        ("params", "right"),
    ):
        table.add_column(name, justify=justify)
    table.add_row(
        "input", "", "", _shape((arch.in_channels, arch.image_size, arch.image_size)), f"{arch.in_channels * arch.image_size**2:,}", ""
    )
    latent_row = len(arch.encoder) - 1
    for i, row in enumerate(arch.shapes):
        layer = describe(row.layer) + ("  ← latent" if i == latent_row else "")
        if i == latent_row and arch.linear_skip:
            layer += " (+ the linear code)"
        table.add_row(
            row.part, str(row.index), layer, _shape(row.out_shape), f"{row.values:,}", f"{row.params:,}", end_section=i == latent_row
        )
        if i == latent_row and arch.linear_skip:
            table.add_row(
                "linear",
                "",
                f"image → {arch.latent_size:,} → image: PCA at the start; the decoder refines its image",
                _shape(arch.image_shape),
                f"{arch.image_shape[0] * arch.image_size**2:,}",
                f"{arch.skip_params:,}",
                end_section=True,
            )
    table.add_row("output", "", arch.output, _shape(arch.shapes[-1].out_shape), "", "", end_section=True)
    table.caption = (
        f"{arch.n_params:,} parameters · latent {_shape(arch.latent_shape)} = {arch.latent_size:,} values · "
        f"compression {arch.compression:.2f}×"
    )
    table.caption_justify = "left"
    return table


def summary_text(arch: Architecture, *, title: str = "architecture", width: int = 100) -> str:
    """The same table as plain text (notes, logs, reports)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(summary_table(arch, title=title))
    return console.export_text()
