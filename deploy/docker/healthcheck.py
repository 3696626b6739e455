"""Docker HEALTHCHECK: GET /health on the port this container's `selfheal serve` listens on.

The image serves one of three services, so the port comes from PID 1's command line
(`selfheal serve worker --port 8001`); containers running `migrate`, `optimize` or
`watch` serve no HTTP and report healthy. Standard library only.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

DEFAULT_PORTS = {"manager": 8000, "worker": 8001, "evaluator": 8002}


def serve_port(argv: list[str]) -> int | None:
    """The port `selfheal serve` listens on for this argv, or None if it serves nothing."""
    if "serve" not in argv:
        return None
    rest = argv[argv.index("serve") + 1 :]
    port: int | None = None
    service: str | None = None
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--port" and i + 1 < len(rest):
            port = int(rest[i + 1])
            i += 2
            continue
        if arg.startswith("--port="):
            port = int(arg.split("=", 1)[1])
        elif arg == "--host":
            i += 2
            continue
        elif not arg.startswith("-") and service is None:
            service = arg
        i += 1
    if port is not None:
        return port
    return DEFAULT_PORTS.get(service or "")


def main() -> int:
    raw = Path("/proc/1/cmdline").read_bytes()
    port = serve_port([part.decode() for part in raw.split(b"\0") if part])
    if port is None:
        return 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return 0 if reply.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
