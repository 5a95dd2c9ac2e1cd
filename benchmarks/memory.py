"""Peak resident memory of whole studies, each in a fresh process, as a user runs them.

    python -m benchmarks.memory [--trials 20]

Two 20-trial studies: ``spaces/tiny.yaml`` as it is, and ``spaces/recon.yaml`` with
``--set data.subset=6000 --set train.epochs=2``; and, for scale, the memory of a process that
only imports the study runner (PyTorch, torchvision, Optuna: most of the figure). Target: under
1.5 GB. Each study writes a fresh SQLite file in a temporary folder. Results go to
``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import ROOT, machine, write_result
from benchmarks.process import run_measured, search_run

TARGET_MIB = 1500 / 1.048576  # 1.5 GB (10^9 bytes) in MiB

STUDIES = {
    "tiny": (ROOT / "spaces" / "tiny.yaml", []),
    "recon (subset 6000, 2 epochs)": (ROOT / "spaces" / "recon.yaml", ["--set", "data.subset=6000", "--set", "train.epochs=2"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--only", choices=["imports", *STUDIES], action="append", help="measure only these (repeatable)")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    args = parser.parse_args(argv)
    console = Console()
    runs = {}
    with tempfile.TemporaryDirectory(prefix="cae-memory-") as tmp:
        if not args.only or "imports" in args.only:
            runs["imports only (search.run)"] = run_measured([sys.executable, "-c", "import search.run"], cwd=Path(tmp))
        for i, (name, (space, extra)) in enumerate(STUDIES.items()):
            if args.only and name not in args.only:
                continue
            storage = f"sqlite:///{Path(tmp) / f'memory{i}.db'}"
            command = search_run(space, "--trials", str(args.trials), "--study", f"memory{i}", "--storage", storage, *extra)
            console.print(f"running: {' '.join(command[1:])}", highlight=False, soft_wrap=True)
            runs[name] = run = run_measured(command, cwd=Path(tmp))
            if run.exit_code != 0:
                console.print(run.output_tail)
                raise SystemExit(f"{name}: exit code {run.exit_code}")
    table = Table(title=f"peak resident memory ({args.trials} trials a study)")
    for column in ("run", "peak RSS", "wall time", "under 1.5 GB"):
        table.add_column(column, justify="right")
    for name, run in runs.items():
        table.add_row(name, f"{run.peak_rss_mib:,.0f} MiB", f"{run.seconds:.0f} s", "yes" if run.peak_rss_mib < TARGET_MIB else "no")
    console.print(table)
    payload = {k: asdict(v) | {"under_1_5_GB": v.peak_rss_mib < TARGET_MIB} for k, v in runs.items()}
    path = write_result("memory", {"machine": machine(), "settings": {"trials": args.trials}, "runs": payload}, folder=args.out)
    console.print(f"written: {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
