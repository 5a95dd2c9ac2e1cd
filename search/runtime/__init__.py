"""Running trials across processes and machines: what keeps a study whole when many workers share it.

- :mod:`search.runtime.storage`: opening a study's storage (SQLite, PostgreSQL, MySQL, journal files), its checks, and
  turning a refused write into one line.
- :mod:`search.runtime.journal`: a journal file repaired after a crash or a full disk.
- :mod:`search.runtime.workers`: the worker loop, many worker processes on one machine, and their exit codes.
- :mod:`search.runtime.liveness`: heartbeats for journal files, and failing the trials of dead workers.
- :mod:`search.runtime.preemption`: a stop signal (SIGTERM, SIGUSR1, Ctrl-C) hands the running trial back.
- :mod:`search.runtime.draws`: distinct draws for workers that start together.
- :mod:`search.runtime.slurm`: SLURM job arrays of workers.
"""
