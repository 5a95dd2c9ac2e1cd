"""``search run --slurm N``: a job array submitted through submitit, its refusals, and what each worker records (issue 22).

A fake ``sbatch`` on PATH stands for SLURM here (it records what it was given and answers as sbatch does);
the real one-node SLURM is exercised where ``.ci/run`` starts one (``CAE_TEST_SLURM``).
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from pathlib import Path

import pytest
import submitit

from search.cli import main as search
from search.slurm import Worker, worker_name
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
    for line in ("#SBATCH --array=0-2%3", "#SBATCH --time=02:00:00", "#SBATCH --cpus-per-task=2", "#SBATCH --signal=USR2@90"):
        assert line in script, script
    assert "#SBATCH --job-name=cae-tiny" in script
    pickles = sorted((in_tmp / "studies" / "tiny" / "slurm").glob("**/*_submitted.pkl"))
    assert pickles, list((in_tmp / "studies").rglob("*"))
    worker = submitit.core.utils.DelayedSubmission.load(pickles[0]).function
    assert isinstance(worker, Worker) and worker.cwd == str(in_tmp)
    assert worker.command[1:] == [
        "-m", "search", "run", TINY, "--trials", "9", "--storage", SERVER, "--workers", "1", "--grace", "180",
        "--artifacts", str(in_tmp / "shared"), "--set", "data.subset=300",
    ]  # fmt: skip


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
