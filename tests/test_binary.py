"""The one-file binary as shipped: built by oneapi.spec, started with an empty environment from an empty directory.

Every check drives the executable from outside, as an operator would: flags, environment, the files it
leaves behind, HTTP (admin API, pages, a relayed request through a fake upstream in this process) and
signals. The build takes about 30 s; dist/oneapi is reused only when it is newer than every source file.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from PyInstaller.archive.readers import CArchiveReader
from redis.asyncio.client import PubSub

from oneapi import __version__
from oneapi.sync import CHANNEL as CACHE_CHANNEL
from tests.chaos import query
from tests.conftest import ROOT_ACCESS_TOKEN, Gateway, _services_required
from tests.fakes.openai_upstream import FakeOpenAI

pytestmark = pytest.mark.binary

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("oneapi", "templates", "static", "oneapi.spec", "pyproject.toml")
# What scripts/build leaves behind: the binary, and PyInstaller's report of the imports it could not satisfy.
SHIPPED = REPO / "dist" / "oneapi"
SHIPPED_WARNINGS = REPO / "build" / "oneapi" / "warn-oneapi.txt"
START_TIMEOUT = 60  # seconds; generous because the machine is noisy, never part of an assertion
STOP_TIMEOUT = 60
MODEL = "gpt-3.5-turbo"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Build:
    binary: Path
    warnings: Path  # warn-oneapi.txt
    modules: frozenset[str]  # oneapi's modules and the data files when the build started: the binary must
    data_files: frozenset[str]  # carry these (the tree is shared; files may appear while it builds)


def _newest_source_mtime() -> float:
    """The latest change under the sources, directories included (a deleted file changes its directory)."""
    newest = 0.0
    for name in SOURCES:
        top = REPO / name
        if not top.exists():
            continue
        newest = max(newest, top.stat().st_mtime)
        for directory, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if d != "__pycache__"]
            for entry in (directory, *(os.path.join(directory, f) for f in files)):
                newest = max(newest, os.stat(entry).st_mtime)
    return newest


def _source_modules() -> set[str]:
    modules = set()
    for path in (REPO / "oneapi").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _data_files() -> set[str]:
    found = set()
    for top in ("templates", "static", "oneapi/data"):
        found |= {p.relative_to(REPO).as_posix() for p in (REPO / top).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts}
    return found


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """dist/oneapi if scripts/build made it after the last source change; otherwise a fresh build in a temp dir."""
    newest = _newest_source_mtime()
    modules, data_files = frozenset(_source_modules()), frozenset(_data_files())
    if all(p.is_file() and p.stat().st_mtime > newest for p in (SHIPPED, SHIPPED_WARNINGS)):
        return Build(SHIPPED, SHIPPED_WARNINGS, modules, data_files)
    out = tmp_path_factory.mktemp("pyinstaller")
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", str(out / "dist"),
         "--workpath", str(out / "work"), str(REPO / "oneapi.spec")],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, f"PyInstaller failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return Build(out / "dist" / "oneapi", out / "work" / "oneapi" / "warn-oneapi.txt", modules, data_files)


# -- what the file carries ---------------------------------------------------------------------------
def test_bundle_carries_code_pages_tokenizers_and_drivers(built: Build) -> None:
    package = CArchiveReader(str(built.binary))
    modules = set(package.open_embedded_archive("PYZ.pyz").toc)
    missing = built.modules - modules
    assert not missing, f"modules of the working tree not in the binary: {sorted(missing)}"
    drivers = {"aiosqlite", "asyncpg", "aiomysql", "pymysql", "redis.asyncio"}
    if importlib.util.find_spec("uvloop") is not None:
        drivers.add("uvloop")
    assert drivers <= modules, f"drivers not in the binary: {sorted(drivers - modules)}"
    assert any(name.startswith("oneapi/data/tokenizers/") for name in built.data_files)
    catalogues = {name for name in package.toc if name.startswith("oneapi/locales/") and name.endswith(".mo")}
    assert {"oneapi/locales/en/LC_MESSAGES/messages.mo", "oneapi/locales/zh_CN/LC_MESSAGES/messages.mo"} <= catalogues
    assert not {m for m in modules if m.split(".")[0] == "babel"}, "the .mo files make Babel unnecessary at run time"
    missing_data = built.data_files - set(package.toc)
    assert not missing_data, f"files not in the binary: {sorted(missing_data)}"
    assert not {m for m in modules if m.split(".")[0] in ("pytest", "_pytest", "IPython", "numpy")}


_IMPORTER = re.compile(r"([\w.]+) \(([^)]*)\)")


def test_every_import_of_oneapi_is_satisfied(built: Build) -> None:
    """A module that oneapi imports unconditionally but that is missing from the binary (not installed, or not a
    runtime dependency in pyproject.toml) would only fail when that code path runs in production."""
    unsatisfied = []
    for line in built.warnings.read_text(encoding="utf-8").splitlines():
        found = re.match(r"(?:missing|excluded) module named '?([\w.]+)'? - imported by (.*)", line)
        if not found:
            continue
        for importer, kinds in _IMPORTER.findall(found.group(2)):
            required = "optional" not in kinds and "conditional" not in kinds
            if required and (importer == "oneapi" or importer.startswith("oneapi.")):
                unsatisfied.append(f"{importer} imports {found.group(1)} ({kinds})")
    assert not unsatisfied, "add these to [project.dependencies] in pyproject.toml:\n" + "\n".join(unsatisfied)


# -- running it ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _minimal_env(**extra: str) -> dict[str, str]:
    """What ``env -i`` leaves, plus the given variables; PATH holds no Python."""
    return {"PATH": "/nonexistent", **extra}


def _run(binary: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], cwd=cwd, env=_minimal_env(**env), capture_output=True, text=True,
                          timeout=START_TIMEOUT, check=False)


@dataclass
class Running:
    """One started binary: its launcher process (the one-file bootloader) and where it lives."""

    process: asyncio.subprocess.Process
    url: str
    home: Path
    output: Path
    http: aiohttp.ClientSession

    @property
    def gateway(self) -> Gateway:
        """The suite's admin-API client, pointed at this process (there is no in-process app or server)."""
        return Gateway(url=self.url, app=None, http=self.http, server=None)  # type: ignore[arg-type]

    def send(self, signum: int, whole_group: bool = False) -> None:
        """``kill PID`` (docker stop) or a signal to the process group (Ctrl-C, systemd's control-group stop)."""
        if whole_group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    async def stop(self, signum: int = signal.SIGTERM, whole_group: bool = False) -> int:
        self.send(signum, whole_group)
        return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
async def launch(built: Build, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start the binary from a new empty directory and wait until it answers HTTP."""
    started: list[Running] = []
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def start(*args: str, port: int | None = None, home: Path | None = None, **env: str) -> Running:
        home = home or tmp_path / f"home{len(started)}"
        home.mkdir(exist_ok=True)
        output = tmp_path / f"{home.name}.out"
        if port is None:
            port = _free_port()
            args = ("--port", str(port), *args)
        with output.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                str(built.binary), *args, cwd=home, env=_minimal_env(**env), stdout=sink, stderr=sink,
                start_new_session=True,
            )
        running = Running(process, f"http://127.0.0.1:{port}", home, output, http)
        started.append(running)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.returncode is not None:
                pytest.fail(f"the binary exited with {process.returncode}:\n{running.log()}")
            try:
                async with http.get(running.url + "/api/status") as response:
                    await response.read()
                    return running
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the binary did not answer within {START_TIMEOUT} s:\n{running.log()}")
                await asyncio.sleep(0.05)

    yield start
    await http.close()
    for running in started:
        if running.process.returncode is None:  # a failed test left it running: end its whole group
            os.killpg(running.process.pid, signal.SIGKILL)
            await running.process.wait()


def test_version_and_help(built: Build, tmp_path: Path) -> None:
    version = _run(built.binary, tmp_path, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"oneapi, version {__version__}"
    shown = _run(built.binary, tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: oneapi")
    for flag in ("--port", "--log-dir", "--version", "--help"):
        assert flag in shown.stdout
    assert list(tmp_path.iterdir()) == [], "--version/--help must not create files"


@pytest.mark.parametrize(("variable", "value"), [("PORT", "abc"), ("BATCH_UPDATE_ENABLED", "maybe"),
                                                 ("SQL_DSN", "root@tcp(db:3306")])
def test_bad_environment_value_stops_with_one_line(built: Build, tmp_path: Path, variable: str, value: str) -> None:
    result = _run(built.binary, tmp_path, **{variable: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


async def test_empty_directory_start_pages_and_logs(built: Build, launch: Callable[..., Any]) -> None:
    server: Running = await launch("--log-dir", "var/log")
    status = await server.gateway.api("GET", "/api/status", token="")
    assert status["success"] is True and status["data"]["version"] == __version__
    assert (server.home / "one-api.db").is_file()
    log_files = list((server.home / "var" / "log").glob("oneapi*.log"))
    assert len(log_files) == 1 and "starting on" in log_files[0].read_text(encoding="utf-8")

    static_files = sorted(name for name in built.data_files if name.startswith("static/"))
    if static_files:
        async with server.http.get(f"{server.url}/{static_files[0]}") as response:
            assert response.status == 200 and await response.read() == (REPO / static_files[0]).read_bytes()
    if any(name.endswith(".html") for name in built.data_files):
        jar = aiohttp.CookieJar(unsafe=True)  # keeps cookies of an IP-address host
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            async with browser.post(server.url + "/api/user/login", json={"username": "root",
                                                                         "password": "123456"}) as response:
                assert (await response.json())["success"] is True  # bcrypt, frozen
            for path in ("/", "/channel"):  # the home page, and an admin page behind the login
                async with browser.get(server.url + path, allow_redirects=False) as response:
                    assert response.status == 200 and response.content_type == "text/html", path
                    page = await response.text()
                assets = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', page))
                assert assets, f"{path} links no stylesheet or script"
                for asset in sorted(assets):
                    async with browser.get(server.url + asset) as response:
                        assert response.status == 200, asset
            async with browser.get(server.url + "/channel", headers={"Accept-Language": "zh-CN"}) as response:
                assert "渠道" in await response.text()  # the compiled zh_CN catalogue

    assert await server.stop() == 0
    assert "SIGTERM" in log_files[0].read_text(encoding="utf-8")


# -- relaying, billing and shutdown ------------------------------------------------------------------------
@pytest.fixture
async def upstream(make_fake_openai: Callable[..., Any]) -> FakeOpenAI:
    """A slow fake OpenAI: a stream takes a few seconds, so a signal sent after its first chunk lands mid-stream."""
    return await make_fake_openai(chunks=4, chunk_delay=0.5)


async def _channel_and_token(server: Running, upstream: FakeOpenAI) -> tuple[dict[str, Any], str]:
    gateway = server.gateway
    channel = await gateway.add_channel(upstream.url, key=upstream.key, models=MODEL)
    return channel, await gateway.add_token(ROOT_ACCESS_TOKEN)


@contextlib.asynccontextmanager
async def _cache_events() -> AsyncIterator[PubSub]:
    """A subscription to the channel on which nodes announce their cache writes (oneapi.sync)."""
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (aioredis.ConnectionError, OSError) as exc:
        await client.aclose()
        if _services_required():
            raise
        pytest.skip(f"Redis is not running here: {exc}")
    pubsub = client.pubsub()
    await pubsub.subscribe(CACHE_CHANNEL)
    try:
        yield pubsub
    finally:
        await pubsub.aclose()
        await client.aclose()


async def _announced(events: PubSub, kind: str, item_id: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = await events.get_message(ignore_subscribe_messages=True, timeout=1)
        if message and (event := orjson.loads(message["data"])).get("kind") == kind and event.get("id") == item_id:
            return True
    return False


async def _consume_logs(dsn: str, home: Path) -> list[tuple[Any, ...]]:
    """(model, prompt tokens, completion tokens, quota) of every consume log, read straight from the database."""
    sql = "SELECT model_name, prompt_tokens, completion_tokens, quota FROM logs WHERE type = 2 ORDER BY id"
    return await query(dsn, home / "one-api.db", sql)


async def test_relay_on_each_database(launch: Callable[..., Any], upstream: FakeOpenAI, sql_dsn: str) -> None:
    """The frozen aiosqlite / asyncpg / aiomysql each serve the admin API and a relayed completion (PORT by env).
    On a shared database it runs as multi-node deployments do, with Redis: its cache writes reach Redis."""
    port = _free_port()
    env = {"PORT": str(port), "SQL_DSN": sql_dsn, "INITIAL_ROOT_ACCESS_TOKEN": ROOT_ACCESS_TOKEN}
    async with contextlib.AsyncExitStack() as stack:
        events = await stack.enter_async_context(_cache_events()) if sql_dsn else None
        if events is not None:
            env.update(REDIS_CONN_STRING=REDIS_URL, SYNC_FREQUENCY="60")
        server: Running = await launch(port=port, **env)
        channel, key = await _channel_and_token(server, upstream)
        if events is not None:
            assert await _announced(events, "channel", channel["id"]), server.log()
    answer = await server.gateway.openai(key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == upstream.reply
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == upstream.usage
    assert upstream.headers[-1]["Authorization"] == f"Bearer {upstream.key}"
    assert await server.stop() == 0
    logs = await _consume_logs(sql_dsn, server.home)
    assert [row[:3] for row in logs] == [(MODEL, *upstream.usage)] and logs[0][3] > 0
    assert (server.home / "one-api.db").exists() == (not sql_dsn)


@pytest.mark.parametrize(("signum", "whole_group"), [
    (signal.SIGTERM, False),  # kill PID, docker stop
    (signal.SIGTERM, True),  # systemd stopping the unit's control group
    (signal.SIGINT, True),  # Ctrl-C in a terminal
], ids=["sigterm", "sigterm-group", "ctrl-c"])
async def test_shutdown_finishes_the_stream_and_flushes_batched_usage(
        launch: Callable[..., Any], upstream: FakeOpenAI, tmp_path: Path, signum: int, whole_group: bool) -> None:
    """With BATCH_UPDATE_ENABLED (from ./.env) usage and logs wait in memory; stopping mid-stream loses neither."""
    home = tmp_path / "data"
    home.mkdir()
    port = _free_port()
    (home / ".env").write_text(f"PORT={port}\nBATCH_UPDATE_ENABLED=true\nBATCH_UPDATE_INTERVAL=3600\n"
                               f"INITIAL_ROOT_ACCESS_TOKEN={ROOT_ACCESS_TOKEN}\n", encoding="utf-8")
    server: Running = await launch(port=port, home=home)
    _, key = await _channel_and_token(server, upstream)
    stream = await server.gateway.openai(key).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True})
    text, usage, signalled = "", None, False
    async for chunk in stream:
        if not signalled:  # the first chunk is here; the upstream is still sending the rest
            server.send(signum, whole_group)
            signalled = True
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text == upstream.reply
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == upstream.usage
    assert await asyncio.wait_for(server.process.wait(), STOP_TIMEOUT) == 0, server.log()

    logs = await _consume_logs("", home)
    assert [row[:3] for row in logs] == [(MODEL, *upstream.usage)], server.log()
    with contextlib.closing(sqlite3.connect(home / "one-api.db")) as db:
        token_used = db.execute("SELECT used_quota FROM tokens").fetchall()
        (channel_used,) = db.execute("SELECT used_quota FROM channels").fetchone()
    assert token_used == [(logs[0][3],)] and channel_used == logs[0][3]
