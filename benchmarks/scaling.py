"""Trials per hour with one worker process against two, on this machine.

    python -m benchmarks.scaling [--trials 12] [--workers 1 2] [--space spaces/reference.yaml] [--set k=v ...]

Each run is ``python -m search run SPACE --trials N --workers K --study scaling-K --storage
<tmp>/scaling-K.journal`` in a fresh process and a temporary folder, timed from start to exit (so
process start, data loading and worker start-up count, as they do for a user). The default space
is the reference network on ``data.subset=12000`` for 3 epochs: every trial does the same work,
so trials per hour compare directly. Each worker of ``--workers K`` runs with its share of the
cores as PyTorch threads (``search.runtime.workers``). Also reported: trials per hour between the first trial's start
and the last one's end (the study's own timestamps), without the start-up. Results go to
``benchmarks/results/scaling.json``.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import REFERENCE_SPACE, machine, write_result
from benchmarks.process import run_measured, search_run

DEFAULT_OVERRIDES = ["data.subset=12000", "train.epochs=3"]


def trial_span_seconds(storage: str, study: str) -> tuple[float, int]:
    """Seconds from the first trial's start to the last trial's end, and the finished trials."""
    import optuna

    from search.runtime.storage import open_storage

    trials = [
        t for t in optuna.load_study(study_name=study, storage=open_storage(storage, create=False)).get_trials() if t.datetime_complete
    ]
    span = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return span.total_seconds(), sum(t.state.is_finished() and t.state.name != "FAIL" for t in trials)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=REFERENCE_SPACE)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE", help=f"default: {DEFAULT_OVERRIDES}")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    args = parser.parse_args(argv)
    console = Console()
    overrides = DEFAULT_OVERRIDES if args.overrides is None else args.overrides
    rows = []
    with tempfile.TemporaryDirectory(prefix="cae-scaling-") as tmp:
        for k in args.workers:
            storage = str(Path(tmp) / f"scaling-{k}.journal")
            extra = [a for o in overrides for a in ("--set", o)]
            command = search_run(
                args.space.resolve(),
                "--trials",
                str(args.trials),
                "--workers",
                str(k),
                "--study",
                f"scaling-{k}",
                "--storage",
                storage,
                *extra,
            )
            console.print(f"running: {' '.join(command[1:])}", highlight=False, soft_wrap=True)
            run = run_measured(command, cwd=Path(tmp))
            if run.exit_code != 0:
                console.print(run.output_tail, highlight=False)
                raise SystemExit(f"--workers {k}: exit code {run.exit_code}")
            span, finished = trial_span_seconds(storage, f"scaling-{k}")
            rows.append(
                {
                    "workers": k,
                    "trials": finished,
                    "wall_seconds": run.seconds,
                    "trials_per_hour": finished / run.seconds * 3600,
                    "trial_span_seconds": span,
                    "trials_per_hour_in_span": finished / span * 3600,
                    "peak_rss_mib_largest_process": run.peak_rss_mib,
                    "run": asdict(run),
                }
            )
    base = rows[0]
    table = Table(title=f"trials per hour: {args.space.name} {' '.join(overrides)}, {args.trials} trials")
    for column in ("workers", "wall time", "trials/hour", "speed-up", "trials/hour (trials only)", "speed-up (trials only)"):
        table.add_column(column, justify="right")
    for row in rows:
        row["speedup"] = row["trials_per_hour"] / base["trials_per_hour"]
        row["speedup_in_span"] = row["trials_per_hour_in_span"] / base["trials_per_hour_in_span"]
        table.add_row(
            str(row["workers"]),
            f"{row['wall_seconds']:.0f} s",
            f"{row['trials_per_hour']:,.0f}",
            f"{row['speedup']:.2f}×",
            f"{row['trials_per_hour_in_span']:,.0f}",
            f"{row['speedup_in_span']:.2f}×",
        )
    console.print(table)
    settings = {"space": str(args.space), "trials": args.trials, "overrides": overrides}
    path = write_result("scaling", {"machine": machine(), "settings": settings, "runs": rows}, folder=args.out)
    console.print(f"written: {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
