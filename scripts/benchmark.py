#!/usr/bin/env python3
"""The seed's benchmark command: `python scripts/benchmark.py --cycles 2 --requests 5`.

Runs `selfheal bench heal` against a system that is already up (`selfheal up` or Compose).
"""

import sys

from selfheal.cli.main import app

if __name__ == "__main__":
    sys.exit(app(["bench", "heal", *sys.argv[1:]]))
