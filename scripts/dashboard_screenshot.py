"""Heal a sabotaged prompt with a real local model and photograph the dashboard.

Starts llama.cpp's server (xllamacpp) on a GGUF model, `selfheal up` against it (the
openai provider with LLM_BASE_URL) on a fresh SQLite file, sends healthy requests, installs
the seed's sabotage prompt, sends failing requests, waits for the watcher's heal, sends
requests again, then saves a full-page screenshot of /dashboard (Playwright driving
Debian's Chromium) and a JSON summary of what happened.

    python scripts/dashboard_screenshot.py --model /work/models/qwen2.5-coder-1.5b.gguf \
        --out docs/dashboard.png

On 2 quiet CPU cores a request takes ~40 s with the 1.5B model, and the heal's replays
take minutes more. `--offline` runs the same story on the offline simulator (seconds; a
picture of the page, not of a model's capability) with `--pace` seconds between requests
so the chart has separate points.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from selfheal.bench.heal import BAD_PROMPTS, split_tasks

SERVER = """
import signal, sys, xllamacpp
p = xllamacpp.CommonParams()
p.model.path = sys.argv[1]
p.port = int(sys.argv[2])
p.n_ctx = 4096
p.n_parallel = 1
p.cpuparams.n_threads = 2
p.cpuparams_batch.n_threads = 2
s = xllamacpp.Server(p)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ask(client: httpx.Client, index: int, log: list[dict[str, Any]], phase: str) -> None:
    train, _ = split_tasks(5)
    task = train[index % len(train)]
    t = time.monotonic()
    resp = client.post(
        "/api/v1/request",
        json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
    )
    data = resp.json()
    log.append(
        {
            "phase": phase,
            "task": task.id,
            "status": resp.status_code,
            "passed": data.get("evaluation_passed"),
            "category": data.get("failure_category"),
            "version": data.get("prompt_version"),
            "seconds": round(time.monotonic() - t, 1),
        }
    )
    print(json.dumps(log[-1]), flush=True)


def active_version(client: httpx.Client) -> int:
    live = client.get("/api/v1/prompts").json()
    return int(next(p["version"] for p in live if p["status"] == "active"))


def screenshot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("SELFHEAL_CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/dashboard?refresh=0&hours=6")
        page.wait_for_selector(".chart canvas")
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="a GGUF file (required unless --offline)")
    ap.add_argument("--offline", action="store_true", help="the offline simulator, no model")
    ap.add_argument("--pace", type=float, default=0.0, help="seconds between requests")
    ap.add_argument("--out", default=Path("docs/dashboard.png"), type=Path)
    ap.add_argument("--before", type=int, default=3, help="healthy requests first")
    ap.add_argument("--broken", type=int, default=4, help="requests under the sabotage prompt")
    ap.add_argument("--after", type=int, default=3, help="requests after the heal")
    ap.add_argument("--heal-timeout", type=float, default=3600)
    args = ap.parse_args()
    if not args.offline and args.model is None:
        ap.error("--model is required unless --offline")

    data_dir = Path(tempfile.mkdtemp(prefix="selfheal-shot-"))
    llm_port, base = free_port(), free_port()
    llm = None
    if not args.offline:
        llm = subprocess.Popen([sys.executable, "-c", SERVER, str(args.model), str(llm_port)])
    up = None
    log: list[dict[str, Any]] = []
    summary: dict[str, Any] = {
        "model": "offline simulator" if args.offline else args.model.name,
        "requests": log,
    }
    pace = (lambda: time.sleep(args.pace)) if args.pace else (lambda: None)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DATABASE_URL"))}
        if llm is not None:
            wait_for(f"http://127.0.0.1:{llm_port}/v1/models", 300, llm)
            env.update(
                LLM_PROVIDER="openai",
                LLM_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
                LLM_MODEL=args.model.stem,
                LLM_TIMEOUT_S="600",
                LLM_MAX_RETRIES="1",
                SERVICE_TIMEOUT_S="1800",
                OPTIMIZER_CANDIDATES="2",
                OPTIMIZER_REFINE_ROUNDS="1",
                OPTIMIZER_REPLAY_FAILING_SAMPLE="3",
                OPTIMIZER_REPLAY_PASSING_SAMPLE="2",
            )
        else:
            env.update(LLM_PROVIDER="offline")
        env.update(OPTIMIZER_DEBOUNCE_S="1")
        up = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "selfheal.cli.main",
                "up",
                "--data-dir",
                str(data_dir),
                "--manager-port",
                str(base),
                "--worker-port",
                str(free_port()),
                "--evaluator-port",
                str(free_port()),
                "--log-dir",
                str(data_dir / "logs"),
            ],
            env=env,
        )
        url = f"http://127.0.0.1:{base}"
        wait_for(url + "/ready", 120, up)
        with httpx.Client(base_url=url, timeout=1200) as client:
            for i in range(args.before):
                ask(client, i, log, "before")
                pace()
            bad = client.post(
                "/api/v1/prompts/code_generation",
                json={"content": BAD_PROMPTS[0], "reason": "sabotage: the seed's bad prompt"},
            ).json()["version"]
            summary["bad_version"] = bad
            for i in range(args.broken):
                ask(client, i, log, "broken")
                pace()
            t = time.monotonic()
            while active_version(client) == bad:
                if time.monotonic() - t > args.heal_timeout:
                    raise RuntimeError("no heal within the timeout")
                time.sleep(2)
            summary["healed_version"] = active_version(client)
            summary["heal_wait_s"] = round(time.monotonic() - t, 1)
            print(f"healed: v{bad} -> v{summary['healed_version']}", flush=True)
            for i in range(args.after):
                ask(client, i, log, "after")
                pace()
            summary["runs"] = client.get("/api/v1/optimizations").json()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(url, args.out)
        args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"screenshot: {args.out}", flush=True)
        return 0
    finally:
        if up is not None:
            stop(up)
        if llm is not None:
            stop(llm, signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
