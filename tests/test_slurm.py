"""``search run --slurm N``: a job array submitted through submitit, its refusals, and what each worker records (issue 22).

A fake ``sbatch`` on PATH stands for SLURM here (it records what it was given and answers as sbatch does);
the real one-node SLURM is exercised where ``.ci/run`` starts one (``CAE_TEST_SLURM``).
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest
import submitit

from search.cli import main as search
from search.runtime.slurm import Worker, worker_name
from tests.conftest import SPACES

TINY = str(SPACES / "tiny.yaml")
SERVER = "postgresql://cae:secret-pw@db-host:5432/cae"


@pytest.fixture
def fake_sbatch(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``sbatch`` on PATH that keeps its script in ``sbatch.log`` and answers with job 4242 (and an ``srun``, which
    submitit looks for); the log's path."""
    bin_dir = in_tmp / "bin"
    bin_dir.mkdir()
    log = in_tmp / "sbatch.log"
    script = bin_dir / "sbatch"
    script.write_text(f'#!/bin/sh\ncat "$@" >> {log}\necho "Submitted batch job 4242"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "srun").symlink_to("/bin/true")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def _submitted_worker(in_tmp: Path) -> Worker:
    """The first array task's worker, as submitit pickled it for the fake ``sbatch``."""
    pickles = sorted((in_tmp / "studies" / "tiny" / "slurm").glob("**/*_submitted.pkl"))
    assert pickles, list((in_tmp / "studies").rglob("*"))
    return submitit.core.utils.DelayedSubmission.load(pickles[0]).function


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "is a SQLite file, whose locks do not hold across the nodes' network file system"),
        (["--storage", "studies/tiny.journal"], "is a journal file, whose locks do not hold across"),
        (["--storage", "sqlite:///shared/tiny.db"], "is a SQLite file"),
        (["--storage", SERVER, "--slurm-opt", "walltime=02:00:00"], "--slurm-opt walltime: not an option of submitit's SlurmExecutor"),
        (["--storage", SERVER, "--slurm-opt", "partition"], "--slurm-opt: expected KEY=VALUE such as time=02:00:00, got 'partition'"),
    ],
)
def test_refusals_are_one_line_exit_2_and_submit_nothing(
    fake_sbatch: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    assert search(["run", TINY, "--slurm", "3", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and said in err, err
    assert "secret-pw" not in err
    assert not fake_sbatch.exists()


def test_sqlite_refusal_says_what_to_use(fake_sbatch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert search(["run", TINY, "--slurm", "2"]) == 2
    assert "give --storage postgresql://user:password@db-host/db (or mysql+pymysql://…)" in capsys.readouterr().err


def test_slurm_0_is_one_line_exit_2(fake_sbatch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        search(["run", TINY, "--storage", SERVER, "--slurm", "0"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --slurm: expected an integer ≥ 1, got '0'" in err, err
    assert not fake_sbatch.exists()


def test_a_slurm_option_without_slurm_is_one_line_exit_2(fake_sbatch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert search(["run", TINY, "--storage", SERVER, "--slurm-opt", "time=10"]) == 2
    assert capsys.readouterr().err == "error: command line: --slurm-opt: applies to a submission: add --slurm N\n"
    assert not fake_sbatch.exists()


def test_no_sbatch_on_the_path_is_one_line(in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(in_tmp))  # python is already running: nothing else is looked up
    assert search(["run", TINY, "--slurm", "3", "--storage", SERVER]) == 2
    err = capsys.readouterr().err
    assert err == "error: command line: --slurm: no sbatch or srun on this machine's PATH: submit from the cluster's login node\n"


def test_submits_one_array_of_the_same_run_command_and_says_how_to_watch_it(
    fake_sbatch: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", TINY, "--trials", "9", "--storage", SERVER, "--set", "data.subset=300", "--artifacts", "shared"]
    assert search([*args, "--slurm", "3", "--slurm-opt", "time=02:00:00", "--slurm-opt", "cpus-per-task=2"]) == 0
    out = capsys.readouterr().out
    assert "submitted SLURM job array 4242: 3 workers on study tiny in postgresql://cae:***@db-host:5432/cae" in out
    assert "squeue -j 4242" in out and "python -m search dashboard --study tiny" in out and "scancel --full --signal=TERM 4242" in out
    assert "secret-pw" not in out
    script = fake_sbatch.read_text()
    for line in ("#SBATCH --array=0-2%3", "#SBATCH --time=02:00:00", "#SBATCH --cpus-per-task=2", "#SBATCH --signal=B:USR2@90"):
        assert line in script, script
    assert "#SBATCH --job-name=cae-tiny" in script
    assert f"\nexec {sys.executable} -u -m submitit.core._submit" in script and "srun" not in script
    worker = _submitted_worker(in_tmp)
    assert isinstance(worker, Worker) and worker.cwd == str(in_tmp)
    assert worker.command[1:] == [
        "-m", "search", "run", TINY, "--trials", "9", "--storage", SERVER, "--workers", "1", "--grace", "180",
        "--artifacts", str(in_tmp / "shared"), "--set", "data.subset=300",
    ]  # fmt: skip


def test_a_deadline_reaches_every_task_as_the_wall_clock_time_it_ends(fake_sbatch: Path, in_tmp: Path) -> None:
    # in seconds it would count from each task's start, however long the task waited in the queue
    before = time.time()
    assert search(["run", TINY, "--storage", SERVER, "--deadline", "600", "--slurm", "2"]) == 0
    command = _submitted_worker(in_tmp).command
    assert "--deadline" not in command
    at = float(command[command.index("--deadline-at") + 1])
    assert before + 600 <= at <= time.time() + 600


def test_a_deadline_at_is_passed_on_as_given(fake_sbatch: Path, in_tmp: Path) -> None:
    assert search(["run", TINY, "--storage", SERVER, "--deadline-at", "4102444800", "--slurm", "2"]) == 0
    command = _submitted_worker(in_tmp).command
    assert command[command.index("--deadline-at") + 1] == "4102444800.0"


def test_a_worker_names_its_slurm_job_and_array_task(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(key, raising=False)
    plain = worker_name()
    assert plain.rsplit(":", 1)[1] == str(os.getpid())
    monkeypatch.setenv("SLURM_JOB_ID", "4245")
    assert worker_name() == f"slurm 4245 on {plain}"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    assert worker_name() == f"slurm 4242_2 on {plain}"
    assert int(worker_name().rsplit(":", 1)[1]) == os.getpid()  # the pid stays last, where the tests' kill helpers read it


def test_the_array_task_runs_the_command_and_fails_with_it(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    try:
        assert Worker([sys.executable, "-c", "pass"], str(tmp_path))() == 0
        with pytest.raises(RuntimeError, match="exited with code 143"):
            Worker([sys.executable, "-c", "import sys; sys.exit(143)"], str(tmp_path))()
    finally:
        signal.signal(signal.SIGTERM, before)


def _submit(tmp_path: Path, name: str, trials: int, epochs: int) -> str:
    """Submit a three-task array on a fresh study of tiny trials; the array's job id."""
    import subprocess

    url = os.environ["CAE_TEST_POSTGRES"]
    args = ["--trials", str(trials), "--study", name, "--storage", url, "--artifacts", str(tmp_path / "artifacts")]
    args += ["--set", "data.subset=300", "--set", f"train.epochs={epochs}", "--slurm", "3"]
    done = subprocess.run([sys.executable, "-m", "search", "run", TINY, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split("job array ")[1].split(":")[0]


def _wait_for(job: str, timeout: float = 600) -> None:
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    while subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, f"job array {job} still queued or running after {timeout:.0f} s"
        time.sleep(1)


def _study(name: str):
    import optuna

    from search.runtime.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(os.environ["CAE_TEST_POSTGRES"]))


ON_SLURM = pytest.mark.skipif(
    not {"CAE_TEST_SLURM", "CAE_TEST_POSTGRES"} <= set(os.environ), reason="needs a SLURM cluster and PostgreSQL: .ci/run starts both"
)


@pytest.mark.serial  # a SIGTERM timed against a running job
@pytest.mark.slow  # a real job array of three workers, one stopped mid-trial: about two minutes on 2 cores
@ON_SLURM
def test_a_three_task_array_survives_a_sigterm_mid_trial_and_reaches_exactly_n_in_one_artifact_folder(tmp_path: Path) -> None:
    import itertools
    import subprocess
    import time
    import uuid

    from optuna.artifacts import get_all_artifact_meta
    from optuna.trial import TrialState

    name = f"slurm-{uuid.uuid4().hex[:8]}"
    job = _submit(tmp_path, name, trials=9, epochs=3)  # three epochs: a trial to stop in its middle
    deadline = time.monotonic() + 300
    while True:
        try:
            study = _study(name)
            break
        except Exception:  # not created yet: the tasks are starting
            assert time.monotonic() < deadline, "the study was never created"
            time.sleep(0.5)
    target = None
    while target is None:
        assert time.monotonic() < deadline, "no trial reached its first epoch"
        running = study.get_trials(states=(TrialState.RUNNING,))
        target = next((t for t in running if t.user_attrs.get("val_mse") and "slurm" in t.user_attrs.get("worker", "")), None)
        time.sleep(0.05)
    task = target.user_attrs["worker"].split()[1]
    sent = time.time()
    subprocess.run(["scancel", "--full", "--signal=TERM", task], check=True)  # what a time limit sends first
    _wait_for(job)

    stopped = study.get_trials()[target.number]
    took = stopped.datetime_complete.timestamp() - sent
    print(f"trial {stopped.number} of task {task} handed back {took:.2f} s after SIGTERM (grace period 180 s)")
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["reason"].startswith("stopped by SIGTERM")
    assert took < 10
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == stopped.number]
    assert [(t.state in (TrialState.COMPLETE, TrialState.PRUNED), t.params) for t in retries] == [(True, stopped.params)]

    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 9
    tasks = [t.user_attrs["worker"].split()[1] for t in finished]
    print(f"job array {job}: finished trials per task {sorted((x, tasks.count(x)) for x in set(tasks))}")
    assert set(tasks) <= {f"{job}_{i}" for i in range(3)} and len(set(tasks)) >= 2
    drawn = [t for t in study.trials if t.params and t.system_attrs.get("failed_trial") is None]
    assert all(a.params != b.params for a, b in itertools.combinations(drawn, 2))
    uploaded = {m.artifact_id for t in study.trials for m in get_all_artifact_meta(t, storage=study._storage)}
    assert uploaded and {p.name for p in (tmp_path / "artifacts").iterdir()} == uploaded
