"""`python -m simtune.blackboxes ...`: see blackboxes/cli.py."""

from __future__ import annotations

import sys

from simtune.blackboxes.cli import main

if __name__ == "__main__":
    sys.exit(main())
