"""Shared fixtures: fresh migrated databases (SQLite and PostgreSQL), free ports, stacks.

PostgreSQL tests use SELFHEAL_TEST_PG_URL (default: postgres@127.0.0.1:5432, trust auth).
They skip with a reason when the server is absent — unless SELFHEAL_REQUIRE_PG=1 (set by
.ci/run), where its absence fails the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from selfheal.db import migrate
from selfheal.db.session import create_engine, create_sessionmaker

# Ordinary tests run on the offline simulator, also where a local model is installed (which
# would otherwise become the default provider); tests of a real provider say so explicitly.
os.environ["LLM_PROVIDER"] = "offline"
OFFLINE_ENV = {"LLM_PROVIDER": "offline"}

PG_URL = os.environ.get(
    "SELFHEAL_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("SELFHEAL_REQUIRE_PG") == "1"


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _pg_base(url: str) -> str:
    return url.rsplit("/", 1)[0]


async def _pg_available() -> str | None:
    try:
        conn = await asyncpg.connect(_dsn(PG_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {PG_URL} is not reachable ({type(exc).__name__}: {exc})"
    await conn.close()
    return None


_PG_PROBLEM: list[str | None] = []


def pg_problem() -> str | None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(asyncio.run(_pg_available()))
    return _PG_PROBLEM[0]


def require_pg() -> None:
    problem = pg_problem()
    if problem is None:
        return
    if REQUIRE_PG:
        pytest.fail(f"SELFHEAL_REQUIRE_PG=1 but {problem}", pytrace=False)
    pytest.skip(problem)


async def _pg_exec(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


_TEMPLATE: list[str] = []


def _pg_template() -> str:
    """One migrated database per test session; each test gets a copy (CREATE ... TEMPLATE)."""
    if not _TEMPLATE:
        name = f"selfheal_tmpl_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
        migrate.upgrade(f"{_pg_base(PG_URL)}/{name}")
        _TEMPLATE.append(name)
    return _TEMPLATE[0]


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    if _TEMPLATE:
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{_TEMPLATE[0]}" WITH (FORCE)'))


def new_pg_database() -> tuple[str, str]:
    require_pg()
    template = _pg_template()
    name = f"selfheal_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return f"{_pg_base(PG_URL)}/{name}", name


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def new_sqlite_database(directory: Path) -> str:
    url = f"sqlite+aiosqlite:///{directory / 'selfheal.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of each kind (the seed prompt is in it)."""
    if request.param == "sqlite":
        yield new_sqlite_database(tmp_path)
        return
    url, name = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def pg_db_url() -> Iterator[str]:
    """A freshly migrated PostgreSQL database (for tests of PostgreSQL itself)."""
    url, name = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as s:
        yield s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveStack:
    """`selfheal up` running as a real process on free ports."""

    def __init__(
        self,
        *,
        db_url: str,
        data_dir: Path,
        watcher: bool,
        env: dict[str, str] | None = None,
        ready_timeout: float = 60,
    ) -> None:
        import subprocess
        import sys

        self.ports = {"manager": free_port(), "worker": free_port(), "evaluator": free_port()}
        self.db_url = db_url
        self.log_dir = data_dir / "logs"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPTIMIZER_"))}
        full_env.update(
            {
                "DATABASE_URL": db_url,
                "LOG_LEVEL": "INFO",
                "OPTIMIZER_DEBOUNCE_S": "0.2",
                **OFFLINE_ENV,
            }
        )
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "selfheal.cli.main",
                "up",
                "--manager-port",
                str(self.ports["manager"]),
                "--worker-port",
                str(self.ports["worker"]),
                "--evaluator-port",
                str(self.ports["evaluator"]),
                "--data-dir",
                str(data_dir),
                "--log-dir",
                str(self.log_dir),
                "--watcher" if watcher else "--no-watcher",
            ],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(ready_timeout)

    def url(self, service: str = "manager") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def _wait_ready(self, timeout: float = 60) -> None:
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                if self.proc.stdout:
                    self.proc.stdout.close()
                raise RuntimeError(
                    f"selfheal up exited with {self.proc.returncode}:\n{out[-4000:]}"
                )
            try:
                if all(
                    httpx.get(self.url(s) + "/ready", timeout=2).status_code == 200
                    for s in self.ports
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("selfheal up did not become ready in time")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> int:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return int(self.proc.returncode)


class Service:
    """One service as a real process (``selfheal serve NAME``, what a container runs) on a
    free port, with the offline model unless ``env`` says otherwise."""

    def __init__(self, name: str, env: dict[str, str], *, port: int | None = None) -> None:
        import subprocess
        import sys
        import time

        import httpx

        self.name, self.env = name, env
        self.port = port or free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
        full.update({**OFFLINE_ENV, **env})
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "selfheal.cli.main",
                "serve",
                name,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the {name} service did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: the process dies mid-work, as on an OOM kill or a node loss."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def restarted(self) -> Service:
        """The same service started again on the same port."""
        return Service(self.name, self.env, port=self.port)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A migrated SQLite database for services started one by one (``services``)."""
    return new_sqlite_database(tmp_path)


@pytest.fixture
def services() -> Iterator[list[Service]]:
    """Service processes a test starts (append them); all stopped after it."""
    started: list[Service] = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database per test module, for tests that run the services as processes."""
    if request.param == "sqlite":
        yield new_sqlite_database(tmp_path_factory.mktemp("db"))
        return
    url, name = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="module")
def live_stack(live_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The three services as real processes (no watcher), shared by a test module."""
    stack = LiveStack(db_url=live_db, data_dir=tmp_path_factory.mktemp("stack"), watcher=False)
    yield stack
    stack.stop()
