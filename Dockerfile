# syntax=docker/dockerfile:1
# One image for every part of selfheal: `serve manager|worker|evaluator`, `migrate`,
# `optimize`, `watch`. See docs/deploy.md.
ARG PYTHON_IMAGE=python:3.12-slim

# --- build: a virtualenv with selfheal and the provider SDKs, no compilers in the result
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# `providers` = the openai / anthropic / google-genai SDKs; add `,gepa` for OPTIMIZER_STRATEGY=gepa.
ARG EXTRAS=providers
RUN pip install --upgrade pip \
 && pip install ".[${EXTRAS}]"

# --- runtime
FROM ${PYTHON_IMAGE} AS runtime
# bubblewrap is the evaluator's sandbox for generated code (see docs/deploy.md for the
# container privileges it needs), libseccomp2 builds its job filter (docs/sandbox.md); the
# other services carry them unused (~200 kB + ~100 kB).
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap libseccomp2 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 selfheal \
 && useradd --system --uid 10001 --gid selfheal --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin selfheal \
 && mkdir -p /app/data/spool \
 && chown -R selfheal:selfheal /app/data
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/entrypoint.sh /usr/local/bin/selfheal-entrypoint
COPY deploy/docker/healthcheck.py /usr/local/lib/selfheal/healthcheck.py
COPY scripts/benchmark.py /app/scripts/benchmark.py
# The sandbox binds only /usr read-only: the image's interpreter lives in /usr/local
# (found by bwrap), Debian's /usr/bin/python3 (the code's default) does not exist here.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SANDBOX_PYTHON=/usr/local/bin/python3 \
    SELFHEAL_DATA_DIR=/app/data
WORKDIR /app
USER 10001:10001
EXPOSE 8000 8001 8002
# Liveness of whichever service this container serves (the port is read from PID 1's
# command line); exits 0 for the one-shot and optimizer commands, which serve no HTTP.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "/usr/local/lib/selfheal/healthcheck.py"]
ENTRYPOINT ["selfheal-entrypoint"]
CMD ["serve", "manager", "--host", "0.0.0.0", "--port", "8000"]
