"""Run a command and print its peak resident memory in KiB on the last line (``python -m benchmarks._peak CMD ...``).

``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a process that has waited for one child is that
child's peak (the largest of its descendants', for a command that starts workers).
"""

from __future__ import annotations

import resource
import subprocess
import sys

if __name__ == "__main__":
    code = subprocess.run(sys.argv[1:]).returncode
    print(f"peak_rss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} exit={code}", flush=True)
    raise SystemExit(code)
