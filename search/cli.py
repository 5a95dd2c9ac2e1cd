"""The ``python -m search`` command line: ``run``, ``best`` and ``dashboard``.

Exit codes: 0 success; 1 a study that stopped because its trials kept failing; 2 bad input
(space file, flag, data, storage) with one line naming the file, the key and what was expected;
3 the database or the artifact folder could not be written (a full disk, a read-only mount), with one
line saying which and where: the trial it hit is failed with that reason, every finished trial is kept,
and the same command resumes once there is room; 130 on Ctrl-C, with the study left resumable by the same command;
128 + the signal's number (143, 138, 140) on SIGTERM, SIGUSR1 or SIGUSR2, the running trial handed back (search.runtime.preemption).
The library's errors name its parameters (``storage='…'``); their line says the command's flags instead
(``--storage …``: :func:`search.command_line.flag_words`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable

from rich.console import Console

from cae.settings import DataError
from search import dashboard
from search.command_line import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    OneLineParser,
    flag_words,
    number_flag,
    parser_flags,
    positive_float,
    positive_int,
)
from search.display import quiet_optuna
from search.runtime.journal import JournalRepaired
from search.runtime.preemption import HandedBack
from search.runtime.storage import (
    EXIT_STORAGE,
    GRACE_SECONDS,
    StorageError,
    StorageWriteError,
    default_storage,
    load_study,
    mask,
    recorded_artifact_dir,
    study_dir,
    write_failure,
)
from search.selection import DesignError, Selection, child_name, epochs_per_size
from search.space import Space, SpaceError, check_study_name, load_space

EXIT_STOPPED = 1
__all__ = [  # the shared helpers live in search.command_line; their old import path still works
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_STOPPED",
    "OneLineParser",
    "main",
    "number_flag",
    "positive_float",
    "positive_int",
]

DEADLINE_HELP = (
    "after S seconds no trial starts, and every running trial trains only the epochs that end in time, keeping its best "
    "epoch's weights: where fewer than planned, its learning rate is annealed over them (one-cycle and cosine schedules)"
)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m search", description="Architecture search for convolutional autoencoders.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run (or resume) the study of a space file", description="Run or resume a study until it holds N finished trials."
    )
    run.add_argument("space", help="space file, e.g. spaces/recon.yaml")
    run.add_argument(
        "--trials",
        type=positive_int,
        default=100,
        metavar="N",
        help="finished (completed or pruned) trials the study should hold (default 100)",
    )
    run.add_argument("--timeout", type=positive_float, metavar="S", help="stop starting new trials after S seconds")
    run.add_argument(
        "--deadline",
        type=positive_float,
        metavar="S",
        help=DEADLINE_HELP,
    )
    run.add_argument(
        "--deadline-at",
        type=positive_float,
        metavar="T",
        help="--deadline as a wall-clock time, T seconds since 1970 (date +%%s): what each task of a --slurm array is given, "
        "so that a task that waited in the queue, or was requeued, has only what is left",
    )
    run.add_argument("--study", metavar="NAME", help="study name (default: the space's study.name, else its file name)")
    run.add_argument(
        "--storage",
        metavar="URL",
        help="an Optuna RDB URL (sqlite:///…, postgresql://…, mysql+pymysql://…) or a journal file path such as "
        "studies/NAME.journal (default sqlite:///studies/NAME.db)",
    )
    run.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="K",
        help="worker processes on this machine, sharing its cores (default 1); --trials counts all of theirs",
    )
    run.add_argument(
        "--grace",
        type=number_flag(int, "a whole number of seconds ≥ 2"),
        default=GRACE_SECONDS,
        metavar="S",
        help=f"a running trial whose worker stopped beating for S seconds is failed and retried (default {GRACE_SECONDS})",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="override a space entry, e.g. --set train.epochs=4",
    )
    run.add_argument(
        "--artifacts",
        metavar="DIR",
        help="checkpoints and pictures of every worker go here (a folder all machines share); the study records it "
        "when it is created (default studies/NAME/artifacts)",
    )
    run.add_argument(
        "--slurm",
        type=positive_int,
        metavar="N",
        help="submit a SLURM job array of N workers running this same command on one study (a PostgreSQL or MySQL "
        "--storage), print its job id and exit (docs/cluster.md)",
    )
    run.add_argument(
        "--slurm-opt",
        action="append",
        default=[],
        dest="slurm_opts",
        metavar="KEY=VALUE",
        help="an option of the array's jobs, as submitit's SlurmExecutor takes it: time=120 (minutes, default 60), "
        "partition=gpu, cpus_per_task=4, gres=gpu:1, mem=8G, signal_delay_s=90, ...",
    )

    refit = commands.add_parser(
        "refit",
        help="train chosen designs of a study longer, into a child study",
        description="Search short, then train long: the front, numbered trials, or the front's designs at exact latent sizes, "
        "each trained for --epochs into a child study (resumable) that records each trial's lineage. It trains on the whole "
        "training split of the study's data unless --set data.subset=N chooses a subset.",
    )
    refit.add_argument("--study", required=True, metavar="NAME", help="the finished study whose designs are trained again")
    refit.add_argument("--front", action="store_true", help="every design on the study's front")
    refit.add_argument(
        "--trial",
        dest="trials",
        type=number_flag(int, "a trial number ≥ 0", inclusive=True),
        nargs="+",
        metavar="N",
        help="these completed trials' designs (with --latent: each built at each size)",
    )
    refit.add_argument(
        "--latent", type=positive_int, nargs="+", metavar="D", help="the front's nearest design, built with exactly D values"
    )
    refit.add_argument(
        "--best",
        action="store_true",
        help="the completed trial with the lowest validation error relative to PCA's at its size (with --latent: built at each size)",
    )
    refit.add_argument(
        "--within",
        type=number_flag(float, "a fraction from 0 to 1", inclusive=True, maximum=1),
        default=0.0,
        metavar="F",
        help="with --best: the cheapest per epoch of the trials within a factor 1+F of the best score (e.g. 0.005), "
        "so that a fixed refit budget buys it more epochs",
    )
    refit.add_argument(
        "--epochs",
        type=positive_int,
        nargs="+",
        required=True,
        metavar="E",
        help="epochs of each design; or, with --latent, one per size in its order (e.g. --latent 64 128 256 --epochs 40 30 20)",
    )
    refit.add_argument("--into", metavar="NAME", help="the child study (default NAME-refit)")
    refit.add_argument(
        "--storage", metavar="URL", help="the parent's storage, where the child is written too (default sqlite:///studies/NAME.db)"
    )
    refit.add_argument("--workers", type=positive_int, default=1, metavar="K", help="worker processes on this machine (default 1)")
    refit.add_argument("--timeout", type=positive_float, metavar="S", help="stop starting new trials after S seconds")
    refit.add_argument(
        "--deadline",
        type=positive_float,
        metavar="S",
        help=DEADLINE_HELP,
    )
    refit.add_argument(
        "--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE", help="override an entry of the child's space"
    )

    best = commands.add_parser("best", help="show the best trial of a study")
    best.add_argument("--study", required=True, metavar="NAME")
    best.add_argument("--storage", metavar="URL", help="default sqlite:///studies/NAME.db")

    dash = commands.add_parser(
        "dashboard",
        help="optuna-dashboard on a study, with its artifact pictures (read-only unless --allow-writes)",
        description="optuna-dashboard on a study's storage, with each trial's reconstruction pictures. It answers only requests "
        "sent to its own address (a web page elsewhere cannot reach it) and refuses every change unless --allow-writes.",
    )
    dash.add_argument("--study", required=True, metavar="NAME", help="the study whose artifact folder the dashboard shows")
    dash.add_argument("--storage", metavar="URL", help="its storage (default sqlite:///studies/NAME.db)")
    dash.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface, browsed by this "
        "machine's name or address)",
    )
    dash.add_argument(
        "--port",
        type=number_flag(
            int, f"a port from 1 to {dashboard.HIGHEST_PORT}, or 0 for any free one", inclusive=True, maximum=dashboard.HIGHEST_PORT
        ),
        default=8080,
        metavar="N",
        help="the port to listen on (default 8080; 0: any free one, printed)",
    )
    dash.add_argument(
        "--allow-writes",
        action="store_true",
        help="let the dashboard delete, rename and edit studies, trials, notes and artifacts (default: read-only)",
    )
    return parser


def _dashboard(args: argparse.Namespace, console: Console) -> int:
    from optuna.artifacts import FileSystemArtifactStore

    url = args.storage or default_storage(args.study)
    study, storage = load_study(args.study, url)
    folder = recorded_artifact_dir(study, url)  # wherever the trials wrote them (run --artifacts)
    mode = "read and write" if args.allow_writes else "read-only; --allow-writes to edit"
    try:
        dashboard.serve(
            storage,
            host=args.host,
            port=args.port,
            artifact_store=FileSystemArtifactStore(str(folder)),
            allow_writes=args.allow_writes,
            announce=lambda address: console.print(
                f"optuna-dashboard on {mask(url)} ({mode}), artifacts from {folder}: {address}  (Ctrl-C to stop)", highlight=False
            ),
        )
    except dashboard.DashboardError as error:  # an address that cannot be served: bad input, said with the command's flags
        print(f"error: {flag_words(str(error), _command_flags(_parser(), 'dashboard'))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _slurm(args: argparse.Namespace, space: Space, console: Console) -> int:
    from search.runtime.slurm import submit

    if args.slurm is None:
        raise SpaceError("command line", "--slurm-opt", "applies to a submission: add --slurm N")
    name = args.study or space.study.name
    url = args.storage or default_storage(name)
    job, tasks = submit(args, space, url, study_dir(name) / "slurm")
    watch = f"python -m search dashboard --study {name} --storage {mask(url)}"
    console.print(
        f"submitted SLURM job array {job}: {tasks} workers on study {name} in {mask(url)}\n"
        f"watch it: squeue -j {job} · sacct -j {job} · {watch} · logs in {study_dir(name) / 'slurm'}/\n"
        f"stop it: scancel --full --signal=TERM {job} (each worker hands its running trial back first)",
        soft_wrap=True,
        highlight=False,
    )
    return 0


def _refit(args: argparse.Namespace, console: Console) -> int:
    # the library's own checks, run here before the refit imports torch (seconds); their words become flags in _command
    selection = Selection.of(
        front=args.front, trials=args.trials or (), latent=args.latent or (), best=args.best, within=args.within, call="command line"
    )
    child_name(args.study, args.into, "command line")
    epochs = _epochs(args.epochs, args.latent or ())
    from search.refits import refit

    return _exit_code(
        lambda: refit(
            args.study,
            epochs=epochs,
            **dataclasses.asdict(selection),
            storage=args.storage,
            into=args.into,
            overrides=args.overrides,
            workers=args.workers,
            timeout=args.timeout,
            deadline=args.deadline,
            console=console,
        )
    )


def _run_deadline(args: argparse.Namespace) -> float | None:
    """``run``'s deadline in seconds from now (<= 0 where ``--deadline-at`` has passed), or None for none."""
    if args.deadline is not None and args.deadline_at is not None:
        raise SpaceError("command line", "--deadline-at", "expected --deadline S or --deadline-at T, not both")
    return args.deadline if args.deadline_at is None else args.deadline_at - time.time()


def _epochs(epochs: list[int], latent: list[int]) -> int | dict[int, int]:
    """``--epochs``: one number for every design, or one per ``--latent`` size in its order (refused in one line otherwise)."""
    if len(epochs) == 1:
        return epochs[0]
    if len(epochs) != len(latent) or len(set(latent)) != len(latent):
        sizes = f"--latent {' '.join(map(str, latent))}" if latent else "no --latent"
        raise SpaceError("command line", "--epochs", f"expected one number, or one per size of --latent, got {len(epochs)} for {sizes}")
    return epochs_per_size(dict(zip(latent, epochs, strict=True)), latent, "command line")


def _exit_code(study_command: Callable[[], object]) -> int:
    """0, or EXIT_STOPPED where the study stopped because its trials kept failing (its display said why)."""
    from search.run import StudyStopped  # imports torch: not before a bad space or flag is refused

    try:
        study_command()
    except StudyStopped:
        return EXIT_STOPPED
    return 0


def _command_flags(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """The flags of ``command`` (its subparser) by the library parameter each sets: what its errors are reworded with."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser_flags(commands.choices[command])


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    flags = _command_flags(parser, args.command)  # the library names parameters (storage=...): the user typed flags
    # Logs (CI, nohup, tee) get wide lines instead of rich's 80 columns, so tables stay readable, unless COLUMNS
    # says what the reader has.
    console = Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=200)
    quiet_optuna()
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            # a journal repaired on open is one line of ours, with the user's flags, not Python's two-line warning
            if issubclass(category, JournalRepaired):
                print(f"warning: {flag_words(str(message), flags)}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        return _command(args, flags, console)


def _command(args: argparse.Namespace, flags: dict[str, str], console: Console) -> int:
    """The command ``args`` names, its errors turned into one line and an exit code."""
    try:
        if args.study is not None:  # the command's own word for a bad name (the library's is study_name=)
            check_study_name(args.study, "command line", "--study")
        if args.command == "run":
            # a bad space is refused here, before the study runner imports torch (seconds) for the data
            space = load_space(args.space, args.overrides)
            deadline = _run_deadline(args)
            if args.slurm is not None or args.slurm_opts:
                return _slurm(args, space, console)
            if deadline is not None and deadline <= 0:
                console.print(
                    f"the deadline (--deadline-at {args.deadline_at:.0f}) passed before this run started: no trial starts", highlight=False
                )
                return 0
            from search.run import optimize

            return _exit_code(
                lambda: optimize(
                    space,
                    trials=args.trials,
                    timeout=args.timeout,
                    deadline=deadline,
                    study_name=args.study,
                    storage=args.storage,
                    workers=args.workers,
                    grace=args.grace,
                    artifacts=args.artifacts,
                    console=console,
                )
            )
        if args.command == "refit":
            return _refit(args, console)
        if args.command == "best":
            from search.trials.best import show_best

            return show_best(args.study, args.storage, console)
        return _dashboard(args, console)
    except StorageWriteError as error:
        print(f"error: {flag_words(str(error), flags)}", file=sys.stderr)
        return EXIT_STORAGE
    except (SpaceError, StorageError, DesignError) as error:
        print(f"error: {flag_words(str(error), flags)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DataError as error:
        where = f"{args.space}: " if args.command == "run" else ""
        print(f"error: {where}{flag_words(str(error), flags)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except HandedBack as stop:  # SIGTERM or SIGUSR1 (a time limit, scancel, preemption): search.runtime.preemption
        print(f"{stop.describe()}; run the same command again to complete the study", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished trials are kept; run the same command again to complete the study", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a write refused outside the trials (creating or recording the study): the same line
        failure = write_failure(error)
        if failure is None:
            raise
        print(f"error: {failure[1] or 'the study storage'}: cannot be written ({failure[0]}); finished trials are kept", file=sys.stderr)
        return EXIT_STORAGE
