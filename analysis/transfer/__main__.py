"""``python -m analysis.transfer``."""

from analysis.transfer.command import main

raise SystemExit(main())
