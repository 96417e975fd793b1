"""The aiohttp application: its parts are built at start-up and torn down, flushing, at shutdown."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from typing import TYPE_CHECKING

import aiohttp
import peewee
from aiohttp import web

from oneapi.adaptors.transport import Transport
from oneapi.api import routes as api_routes
from oneapi.background import cancel_and_wait, unless_cancelled
from oneapi.billing.ledger import Ledger
from oneapi.cache import Cache
from oneapi.config import Settings
from oneapi.constants import Role, UserStatus
from oneapi.db.connect import Databases, connect
from oneapi.db.migrate import migrate_schema
from oneapi.db.models import Token, User
from oneapi.log_rollup import roll_up_loop
from oneapi.logs import retention_loop
from oneapi.middlewares import answer_headers, frontend_redirect, request_context
from oneapi.options import Options
from oneapi.relay import routes as relay_routes
from oneapi.security import redact
from oneapi.security.body_limits import app_body_limit, body_limits
from oneapi.security.csrf import refuse_cross_site_writes
from oneapi.security.fetcher import SafeFetcher
from oneapi.security.login_limits import LOGIN_LIMITS, LoginLimits
from oneapi.security.request_headers import reject_undecodable_headers
from oneapi.state import STATE, AppState
from oneapi.web import routes as web_routes
from oneapi.workers import WorkerRole

if TYPE_CHECKING:
    from oneapi.sync import Bus

logger = logging.getLogger(__name__)

ROOT_QUOTA = 500_000_000_000_000
# root's first password, 123456, hashed as users.hash_password does (bcrypt, cost 10): the password is public,
# so a hash made once hides as much as a fresh one, and a first start is spared 60 ms of bcrypt.
DEFAULT_ROOT_PASSWORD_HASH = "$2b$10$UksqNn.Pd2k7hQgc0NOFxuPUCsmYzKD0lNcZbjML93BpgCoo4.Swm"
RECONCILE_SECONDS = 15.0  # how often the master refunds the reservations of processes that died


async def seed_root(dbs: Databases, settings: Settings) -> None:
    """First start: root / 123456, and the INITIAL_ROOT_TOKEN token when that is set."""
    if await dbs.main.count(User.select()):
        return
    access_token = settings.initial_root_access_token or uuid.uuid4().hex
    try:
        await _create_root(dbs, settings, access_token, DEFAULT_ROOT_PASSWORD_HASH)
    except peewee.IntegrityError:  # another master starting at the same time created it first
        return
    logger.info("created the root user (username root, password 123456): change the password after logging in")


async def _create_root(dbs: Databases, settings: Settings, access_token: str, password: str) -> None:
    async with dbs.write_transaction():
        root = await User.acreate(
            username="root", password=password, display_name="Root User", role=int(Role.ROOT),
            status=int(UserStatus.ENABLED), quota=ROOT_QUOTA, access_token=access_token,
            aff_code=secrets.token_hex(2),
        )
        if settings.initial_root_token:
            key = settings.initial_root_token.removeprefix("sk-")
            await Token.acreate(
                id=1, user_id=root.id, key=key, name="Initial Root Token", unlimited_quota=True,
                remain_quota=ROOT_QUOTA, expired_time=-1, created_time=int(time.time()),
                accessed_time=int(time.time()),
            )
            if isinstance(dbs.main, peewee.PostgresqlDatabase):  # an explicit id leaves the sequence at 1
                table = Token._meta.table_name
                await dbs.main.aexecute_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")


async def _sync_loop(state: AppState) -> None:
    """Pick up writes made by other nodes: options and the cache, every SYNC_FREQUENCY seconds."""
    while True:
        await asyncio.sleep(state.settings.sync_frequency)
        try:
            await state.ledger.drain()
            await state.options.load(state.dbs)
            await state.cache.load(state.dbs)
        except Exception:
            unless_cancelled()
            logger.exception("periodic sync failed; keeping the cached data")
        finally:
            await state.dbs.release()
            unless_cancelled()  # a cancel the database bridge swallowed


async def _startup(app: web.Application) -> None:
    settings = app[SETTINGS]
    role = app[ROLE]
    dbs = connect(settings)
    try:
        if role.count == 1:  # several workers: their supervisor prepared the database before forking them
            await prepare_database(dbs, settings)
        options = Options(settings.theme)
        await options.load(dbs)
        cache = Cache()
        await cache.load(dbs)
        await dbs.release()
        ledger = Ledger(dbs, cache, settings.batch_update_interval if settings.batch_update_enabled else None,
                        settings.sqlite_busy_timeout,
                        reconcile_interval=RECONCILE_SECONDS if settings.is_master and role.runs_node_jobs else None)
        await ledger.open()
    except BaseException:
        await dbs.close()  # the pool's threads would keep the process alive
        raise
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
    # No cookie jar: an upstream's cookies must not follow one user's request into another's (and the jar's
    # per-request filtering is measurable on the hot path).
    http = aiohttp.ClientSession(connector=connector, trust_env=False, proxy=settings.relay_proxy or None,
                                 auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar())
    state = AppState(settings=settings, dbs=dbs, options=options, cache=cache, ledger=ledger, http=http,
                     transport=Transport(http, settings.relay_proxy or None), fetcher=SafeFetcher(settings),
                     started_at=int(time.time()), role=role)
    app[STATE] = state
    app[SECRETS] = redact.cache_secrets(cache)
    redact.add_source(app[SECRETS])
    redact.install_on_handlers()
    app[BACKGROUND] = [asyncio.create_task(_sync_loop(state), name="sync")]
    if role.runs_node_jobs:  # any number of workers may run these safely; one per node is enough
        app[BACKGROUND] += [asyncio.create_task(roll_up_loop(state), name="log rollup"),
                            asyncio.create_task(retention_loop(state), name="log retention")]
    bus = _cache_bus(settings, role)
    if bus is not None:
        from oneapi.sync import CacheSync

        sync = CacheSync(cache, options, dbs, bus)
        if bus.client is not None:
            state.sync = sync  # Redis: the rate and login limits and one-time codes count there too
        else:
            state.workers_sync = sync
        app[BACKGROUND].extend(sync.start())


def _cache_bus(settings: Settings, role: WorkerRole) -> Bus | None:
    """Redis when it is enabled (it reaches every node's workers too), else the supervisor's socket."""
    if settings.redis_enabled:
        from oneapi.sync import RedisBus, connect_redis  # redis is imported only when it is used

        if role.bus is not None:
            role.bus.close()
        return RedisBus(connect_redis(settings.redis_conn_string, settings.redis_password))
    if role.bus is not None:
        from oneapi.sync import WorkersBus

        return WorkersBus(role.bus)
    return None


async def prepare_database(dbs: Databases, settings: Settings) -> None:
    """Once per node before serving: the master migrates the schema, and a first start creates root."""
    if settings.is_master:
        await migrate_schema(dbs)
    await seed_root(dbs, settings)


async def _cleanup(app: web.Application) -> None:
    state = app.get(STATE)
    if SECRETS in app:
        redact.remove_source(app[SECRETS])
    background: list[asyncio.Task[None]] = app.get(BACKGROUND, [])
    await cancel_and_wait(background)
    if state is None:
        return
    for sync in (state.sync, state.workers_sync):
        if sync is not None:
            await sync.close()
    await state.ledger.stop()
    state.transport.close()
    await state.http.close()
    await state.fetcher.close()
    await state.dbs.close()


SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
ROLE: web.AppKey[WorkerRole] = web.AppKey("worker_role", WorkerRole)
SECRETS: web.AppKey[redact.SecretSource] = web.AppKey("secrets")
BACKGROUND: web.AppKey[list[asyncio.Task[None]]] = web.AppKey("background", list)


def make_app(settings: Settings, role: WorkerRole | None = None) -> web.Application:
    middlewares = [request_context, reject_undecodable_headers, refuse_cross_site_writes, body_limits]
    if settings.frontend_base_url and not settings.is_master:
        middlewares.append(frontend_redirect(settings.frontend_base_url))
    app = web.Application(middlewares=middlewares, client_max_size=app_body_limit(settings),
                          handler_args={"max_field_size": 65536, "auto_decompress": False})
    app[SETTINGS] = settings
    app[ROLE] = role or WorkerRole()
    app[LOGIN_LIMITS] = LoginLimits()
    app.on_response_prepare.append(answer_headers)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    relay_routes.setup_routes(app)
    api_routes.setup_routes(app)
    web_routes.setup_routes(app)
    return app
