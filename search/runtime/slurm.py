"""``search run SPACE --slurm N``: a SLURM job array of N workers on one study, submitted through submitit.

Why submitit (``pip install 'cae-search[slurm]'``): it is Meta's maintained SLURM client (used by Hydra's
launcher and many research codes), writes and submits the ``sbatch`` array script for us, keeps each task's
log in one folder, and knows SLURM's time-limit warning: on the SIGUSR2 that ``--signal=B:USR2@90`` asks for
(``signal_delay_s``), a checkpointable job is requeued. We write no ``sbatch`` script by hand, and parse no
``sbatch`` output.

Each array task runs the same ``python -m search run`` command (the flags given here, less ``--slurm``),
so every task is an ordinary worker on one shared study (design §1.5) and records its SLURM job and array
task in its trials' ``worker`` attribute (:func:`worker_name`). The storage must be a database server
that every node reaches (PostgreSQL, MySQL): SQLite's and a journal file's locks do not hold across the
nodes' network file system, so they are refused. When a task is warned or stopped (the time limit's
signal, ``scancel``, preemption) its worker hands its trial back (:mod:`search.runtime.preemption`); at the time
limit, the task requeues itself and its worker rejoins the study.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from search.space import Space, SpaceError

# SLURM's own default time limit is the partition's; submitit always writes one (5 minutes unless told).
DEFAULT_MINUTES = 60
# Options that are the command's own business, not the user's: the array size, the job's name, how the task runs.
_OURS = {"array_parallelism", "job_name", "use_srun", "srun_args", "additional_parameters"}
WARNING_SECONDS = 90  # submitit's signal_delay_s: SIGUSR2 this long before the time limit
_INSTALL = "pip install 'cae-search[slurm]'"


def worker_name() -> str:
    """Who runs a trial: ``host:pid``, prefixed ``slurm JOB_TASK on`` in a SLURM job array (``slurm JOB on`` in a
    plain job), the ids that ``squeue`` and ``sacct`` show."""
    here = f"{socket.gethostname()}:{os.getpid()}"
    array, task, job = (os.environ.get(k) for k in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID"))
    if array and task:
        return f"slurm {array}_{task} on {here}"
    return f"slurm {job} on {here}" if job else here


def _executor_options() -> dict[str, Any]:
    try:
        from submitit.slurm.slurm import _get_default_parameters
    except ImportError:
        raise SpaceError("command line", "--slurm", f"submits through submitit, which is not installed: {_INSTALL}") from None
    return {k: v for k, v in _get_default_parameters().items() if k not in _OURS}


def _value(text: str, default: Any) -> Any:
    if isinstance(default, bool) or text.lower() in ("true", "false"):
        return text.lower() in ("true", "1", "yes")
    try:
        return int(text)
    except ValueError:
        return text


def slurm_options(pairs: list[str]) -> dict[str, Any]:
    """``--slurm-opt key=value`` pairs as submitit's SlurmExecutor parameters (``cpus-per-task`` is ``cpus_per_task``);
    :class:`SpaceError` for a pair without ``=`` or a key that it does not take."""
    known = _executor_options()
    options: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not equals or not key:
            raise SpaceError("command line", "--slurm-opt", f"expected KEY=VALUE such as time=02:00:00, got {pair!r}")
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            takes = ", ".join(sorted(known))
            raise SpaceError("command line", f"--slurm-opt {key}", f"not an option of submitit's SlurmExecutor ({hint}it takes {takes})")
        options[key] = _value(text, known[key])
    return options


def check_shared(url: str) -> None:
    """:class:`SpaceError` unless ``url`` is a database server: the one storage that the cluster's nodes can share."""
    from search.runtime.storage import is_journal, is_sqlite, mask

    kind = "a journal file" if is_journal(url) else "a SQLite file" if is_sqlite(url) else None
    if kind:
        raise SpaceError(
            "command line",
            "--slurm",
            f"the study's storage {mask(url)} is {kind}, whose locks do not hold across the nodes' network file system "
            "(optuna #6036, #5138); give --storage postgresql://user:password@db-host/db (or mysql+pymysql://…), "
            "a server every node reaches",
        )


def _check_clients() -> None:
    missing = [name for name in ("sbatch", "srun") if shutil.which(name) is None]  # submitit's executor looks for both
    if missing:
        where = "submit from the cluster's login node"
        raise SpaceError("command line", "--slurm", f"no {' or '.join(missing)} on this machine's PATH: {where}")


def worker_command(args: argparse.Namespace, space: Space) -> list[str]:
    """The ``python -m search run`` that every array task runs: the flags given, paths made absolute, less ``--slurm``."""
    command = [sys.executable, "-m", "search", "run", str(Path(space.path).resolve()), "--trials", str(args.trials)]
    # a deadline in seconds would count from each task's own start, however long it waited in the queue: the tasks get
    # the wall-clock time it ends at instead, the same for all of them and for a requeued task
    deadline_at = args.deadline_at if args.deadline is None else time.time() + args.deadline
    for flag, value in (("--timeout", args.timeout), ("--deadline-at", deadline_at), ("--study", args.study), ("--storage", args.storage)):
        if value is not None:
            command += [flag, str(value)]
    command += ["--workers", str(args.workers), "--grace", str(args.grace)]
    if args.artifacts is not None:
        command += ["--artifacts", str(Path(args.artifacts).resolve())]
    for override in args.overrides:
        command += ["--set", override]
    return command


class Worker:
    """One array task: the worker command in a child process, its stop signals passed on to it.

    submitit answers SIGTERM by ignoring it and SLURM's time-limit warning (SIGUSR2) by calling :meth:`checkpoint`
    and requeueing the task; the child hands its trial back on either (search.runtime.preemption), and a requeued task runs
    the same command again, which rejoins the study.
    """

    def __init__(self, command: list[str], cwd: str) -> None:
        self.command = command
        self.cwd = cwd

    def __call__(self) -> int:
        child = subprocess.Popen(self.command, cwd=self.cwd)
        _CHILDREN[:] = [child]

        def forward(signum: int, _: object) -> None:
            if child.poll() is None:
                child.send_signal(signum)

        for number in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(number, forward)
        code = child.wait()
        if code != 0:
            raise RuntimeError(f"{' '.join(self.command[1:4])} exited with code {code}")
        return code

    def checkpoint(self) -> Any:
        """On SLURM's warning: let the worker hand its trial back, then requeue this same task."""
        from submitit.helpers import DelayedSubmission

        for child in _CHILDREN:
            # Called in a signal handler that interrupted __call__'s child.wait(), which holds the Popen's wait lock
            # (child.poll() and child.wait() would spin on it): the child is reaped with waitpid itself.
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGUSR2)
            if not _reaped(child.pid, HAND_BACK_SECONDS):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
        return DelayedSubmission(Worker(self.command, self.cwd))


_CHILDREN: list[subprocess.Popen[bytes]] = []  # the running worker, reached by checkpoint (which is called unpickled)
HAND_BACK_SECONDS = 60  # how long the warned worker may take to hand its trial back and exit


def _reaped(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return True
        except ChildProcessError:  # reaped already
            return True
        time.sleep(0.1)
    return False


def submit(args: argparse.Namespace, space: Space, url: str, folder: Path) -> tuple[str, int]:
    """Submit ``args.slurm`` array tasks of the worker command; the array's job id and its size.

    Refuses (:class:`SpaceError`, nothing submitted) a storage that the nodes cannot share, an option that
    submitit does not take, and a machine without ``sbatch``.
    """
    check_shared(url)
    options = slurm_options(args.slurm_opts)
    _check_clients()
    import submitit

    # The task is the batch step itself, exec'd python with no shell or srun around it. Through srun, the SIGTERM of a
    # time limit or of scancel --full reaches srun too, which answers it by SIGKILLing its step at once (measured on
    # slurm-wlm 22.05: the worker never saw the signal); a batch shell would die of it and take the worker down.
    # So the time-limit warning goes to the batch step (B:): submitit's own process, which passes it on (Worker).
    executor = submitit.SlurmExecutor(folder=str(folder / "%j"), python=f"exec {shlex.quote(sys.executable)}")
    warning = options.pop("signal_delay_s", WARNING_SECONDS)
    defaults = {"time": DEFAULT_MINUTES, "job_name": f"cae-{args.study or space.study.name}", "use_srun": False}
    executor.update_parameters(**(defaults | options), additional_parameters={"signal": f"B:USR2@{warning}"})
    command = worker_command(args, space)
    with executor.batch():
        jobs = [executor.submit(Worker(command, os.getcwd())) for _ in range(args.slurm)]
    return jobs[0].job_id.split("_")[0], len(jobs)
