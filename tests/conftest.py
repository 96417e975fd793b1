"""Shared fixtures: a running gateway on a real port, fake upstreams, SDK clients, and SQL backends.

Tests talk to the gateway over HTTP only. Setup that a person would do in the admin (users, tokens,
channels) goes through the admin REST API with root's access token, exactly as a script would.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from oneapi.app import BACKGROUND, make_app
from oneapi.background import cancel_and_wait
from oneapi.config import load_settings
from oneapi.state import STATE, AppState
from tests.fakes.openai_upstream import FakeOpenAI

ROOT_ACCESS_TOKEN = "0123456789abcdef0123456789abcdef"
PG_ADMIN_DSN = "postgres://postgres@127.0.0.1:5432/postgres"
MYSQL_HOST = "127.0.0.1"


@dataclass
class Gateway:
    """A running gateway and the calls tests make against it."""

    url: str
    app: web.Application
    http: aiohttp.ClientSession
    server: TestServer
    clients: list[openai.AsyncOpenAI] = field(default_factory=list)

    @property
    def state(self) -> AppState:
        return self.app[STATE]

    async def api(self, method: str, path: str, json: Any = None, token: str = ROOT_ACCESS_TOKEN,
                  **kwargs: Any) -> dict[str, Any]:
        """Call the admin API (root's access token by default) and return the decoded envelope."""
        headers = {"Authorization": token} if token else {}
        async with self.http.request(method, self.url + path, json=json, headers=headers, **kwargs) as resp:
            return await resp.json(content_type=None)

    async def add_channel(self, base_url: str, key: str = "sk-upstream", models: str = "gpt-3.5-turbo",
                          type: int = 1, **fields: Any) -> dict[str, Any]:
        """Create a channel through POST /api/channel/ and return it (with its id)."""
        body = {"type": type, "key": key, "name": fields.pop("name", f"ch-{uuid.uuid4().hex[:6]}"),
                "base_url": base_url, "models": models, "group": fields.pop("group", "default"), **fields}
        created = await self.api("POST", "/api/channel/", body)
        assert created["success"], created
        found = await self.api("GET", f"/api/channel/search?keyword={body['name']}")
        return found["data"][0]

    async def add_user(self, username: str | None = None, password: str = "password123", quota: int = 10**9,
                       group: str = "default") -> dict[str, Any]:
        username = username or f"u{secrets.token_hex(4)}"
        created = await self.api("POST", "/api/user/", {"username": username, "password": password,
                                                         "display_name": username})
        assert created["success"], created
        found = await self.api("GET", f"/api/user/search?keyword={username}")
        user = found["data"][0]
        user.update(quota=quota, group=group, password="")
        updated = await self.api("PUT", "/api/user/", user)
        assert updated["success"], updated
        user["access_token"] = (await self.login_access_token(username, password))
        return user

    async def login_access_token(self, username: str, password: str) -> str:
        """Log in with a fresh cookie jar and generate the user's system access token."""
        # unsafe=True: aiohttp's default jar ignores cookies set by an IP address such as 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.post(self.url + "/api/user/login",
                                    json={"username": username, "password": password}) as resp:
                body = await resp.json()
                assert body["success"], body
            async with session.get(self.url + "/api/user/token") as resp:
                return (await resp.json())["data"]

    async def add_token(self, user_access_token: str = ROOT_ACCESS_TOKEN, name: str | None = None,
                        **fields: Any) -> str:
        """Create a token for the owner of ``user_access_token``; returns ``sk-<key>``."""
        name = name or f"t{secrets.token_hex(3)}"
        body = {"name": name, "remain_quota": fields.pop("remain_quota", 0),
                "unlimited_quota": fields.pop("unlimited_quota", True),
                "expired_time": fields.pop("expired_time", -1), **fields}
        created = await self.api("POST", "/api/token/", body, token=user_access_token)
        assert created["success"], created
        return "sk-" + created["data"]["key"]

    def openai(self, key: str) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=30)
        self.clients.append(client)
        return client

    async def drain(self) -> None:
        """Wait until queued settlements and logs are written."""
        await self.state.ledger.drain()


def gateway_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {"SQLITE_PATH": str(tmp_path / "one-api.db"), "INITIAL_ROOT_ACCESS_TOKEN": ROOT_ACCESS_TOKEN,
           "SESSION_SECRET": "test-secret", "DEBUG": "true"}
    env.update(extra)
    return env


@pytest.fixture
async def make_gateway(tmp_path) -> AsyncIterator[Callable[..., Any]]:
    """Start gateways with extra env vars: ``await make_gateway(SQL_DSN=...)``."""
    servers: list[TestServer] = []
    gateways: list[Gateway] = []

    async def start(**env: str) -> Gateway:
        settings = load_settings(gateway_env(tmp_path, **env))
        app = make_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        gateway = Gateway(str(server.make_url("")).rstrip("/"), app, aiohttp.ClientSession(), server)
        gateways.append(gateway)
        return gateway

    yield start
    for gateway in gateways:
        for client in gateway.clients:
            await client.close()
        await gateway.http.close()
    # Nodes in one process share the models' database binding, so one node's background loop can hold a
    # connection of another's pool, which that pool's close would then wait 10 s for: stop them all first.
    for server in servers:
        await cancel_and_wait(server.app.get(BACKGROUND, []))
    for server in reversed(servers):
        await server.close()


@pytest.fixture
async def gateway(make_gateway) -> Gateway:
    return await make_gateway()


async def start_fake(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def serve_fake() -> AsyncIterator[Callable[[Any], Any]]:
    """Serve any fake upstream (an object with ``app()`` and a ``url`` attribute) on a real port."""
    servers: list[TestServer] = []

    async def start(fake: Any) -> Any:
        server = await start_fake(fake.app())
        servers.append(server)
        fake.url = str(server.make_url("")).rstrip("/")
        return fake

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def fake_openai(serve_fake) -> FakeOpenAI:
    return await serve_fake(FakeOpenAI())


@pytest.fixture
async def make_fake_openai(serve_fake) -> Callable[..., Any]:
    async def start(**fields: Any) -> FakeOpenAI:
        return await serve_fake(FakeOpenAI(**fields))

    return start


# -- SQL backends --------------------------------------------------------------------------------
def _services_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("ONEAPI_REQUIRE_SERVICES") == "1"


async def _postgres_database() -> tuple[str, Callable[[], Any]]:
    import asyncpg

    name = f"oneapi_test_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    return f"postgres://postgres@127.0.0.1:5432/{name}", drop


async def _mysql_database() -> tuple[str, Callable[[], Any]]:
    import aiomysql

    name = f"oneapi_test_{secrets.token_hex(4)}"
    conn = await aiomysql.connect(host=MYSQL_HOST, port=3306, user="root", password="")
    async with conn.cursor() as cur:
        await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()

    async def drop() -> None:
        conn = await aiomysql.connect(host=MYSQL_HOST, port=3306, user="root", password="")
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()

    return f"root:@tcp({MYSQL_HOST}:3306)/{name}?charset=utf8mb4", drop


async def fresh_database(backend: str) -> tuple[str, Callable[[], Any]]:
    """(SQL_DSN, drop) of a new database on ``backend`` ("postgres" or "mysql"); the test is skipped when that
    server is not running here, unless CI requires the services."""
    try:
        return await (_postgres_database() if backend == "postgres" else _mysql_database())
    except OSError as exc:
        if _services_required():
            raise
        pytest.skip(f"{backend} is not running here: {exc}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test's server database (sql_dsn, server_dsn) is made before its gateways, so that it is dropped after
    they have stopped, not under their last writes."""
    for item in items:
        names: list[str] = getattr(item, "fixturenames", [])
        for database in ("sql_dsn", "server_dsn"):
            if "make_gateway" in names and database in names and names.index(database) > names.index("make_gateway"):
                names.remove(database)
                names.insert(names.index("make_gateway"), database)


@pytest.fixture(params=["postgres", "mysql"])
async def server_dsn(request) -> AsyncIterator[str]:
    """SQL_DSN of a fresh PostgreSQL or MariaDB database: for two nodes, which share a server database."""
    dsn, drop = await fresh_database(request.param)
    yield dsn
    await drop()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def sql_dsn(request) -> AsyncIterator[str]:
    """SQL_DSN for each backend: '' (SQLite), a fresh PostgreSQL database, a fresh MariaDB database."""
    if request.param == "sqlite":
        yield ""
        return
    dsn, drop = await fresh_database(request.param)
    yield dsn
    await drop()
