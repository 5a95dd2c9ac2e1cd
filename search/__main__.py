import sys

from search.cli import main

if __name__ == "__main__":  # --workers spawns processes that import this module under another name
    sys.exit(main())
