#!/bin/sh
# `docker run IMAGE serve worker` runs `selfheal serve worker`; a first argument that is
# `selfheal`, a Python interpreter, a shell or an absolute path runs as given, so the seed's
# `docker compose run --rm optimizer selfheal optimize` and
# `docker compose run --rm manager python scripts/benchmark.py ...` both work.
set -e
if [ "$#" -eq 0 ]; then
  set -- --help
fi
case "$1" in
  selfheal | python | python3 | sh | bash | /*) exec "$@" ;;
  *) exec selfheal "$@" ;;
esac
