"""The application's shared parts, created at start-up and reached from any handler as ``request.app[STATE]``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from oneapi.billing.tokens import TokenCounter
from oneapi.cache import Cache
from oneapi.config import Settings
from oneapi.options import Options
from oneapi.paging import PageCursors
from oneapi.workers import WorkerRole

if TYPE_CHECKING:
    from redis import asyncio as aioredis

    from oneapi.adaptors.transport import Transport
    from oneapi.billing.ledger import Ledger
    from oneapi.db.connect import Databases
    from oneapi.security.fetcher import SafeFetcher
    from oneapi.sync import CacheSync


@dataclass
class AppState:
    settings: Settings
    dbs: Databases
    options: Options
    cache: Cache
    ledger: Ledger
    http: aiohttp.ClientSession  # the gateway's own calls (balances, OAuth, mail pushers, ...)
    transport: Transport  # calls to providers, on the relay's path
    fetcher: SafeFetcher  # client-given URLs (image_url) only: never an internal address
    counter: TokenCounter = field(default_factory=TokenCounter)
    rng: random.Random = field(default_factory=random.Random)
    started_at: int = 0
    sync: CacheSync | None = None  # set when Redis is enabled (its ``client`` is Redis)
    workers_sync: CacheSync | None = None  # without Redis, when other workers share the node
    role: WorkerRole = field(default_factory=WorkerRole)
    log_pages: PageCursors = field(default_factory=PageCursors)  # keyset paging of the log pages

    @property
    def redis(self) -> aioredis.Redis | None:
        """The shared Redis client, or None: workers of one node may share a bus that is not Redis."""
        return self.sync.client if self.sync is not None else None


STATE: web.AppKey[AppState] = web.AppKey("state", AppState)
