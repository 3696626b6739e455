#!/usr/bin/env bash
# Install selfheal on a fresh machine and run the main job: the system up on SQLite with the
# offline model, a bad prompt installed, the system healing itself. Reports go to reports/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && ! command -v bwrap >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[bench]'
exec .venv/bin/selfheal demo "$@"
