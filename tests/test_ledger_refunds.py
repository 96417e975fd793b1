"""A request that dies of anything but a relay error (a bug, a client gone before the first byte) gives its
reservation back at once: the journal is empty and the balance whole again without waiting for a reconcile."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import aiohttp

from tests.chaos import eventually
from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import CHAT, post

QUOTA = 100_000


class QuotedUsage(FakeOpenAI):
    """A compatible vendor that sends ``total_tokens`` as a string and no ``completion_tokens`` (while
    ``quoted``)."""

    quoted = True

    def _usage(self) -> dict[str, Any] | None:
        return {"prompt_tokens": 11, "total_tokens": "18"} if self.quoted else super()._usage()


def books(path: str, user_id: int) -> tuple[int, int, int]:
    """(the user's quota, reservations in the journal, consume logs)."""
    with sqlite3.connect(path) as db:
        [(quota,)] = db.execute("SELECT quota FROM users WHERE id = ?", (user_id,)).fetchall()
        [(held,)] = db.execute("SELECT COUNT(*) FROM ledger_reservations").fetchall()
        [(logs,)] = db.execute("SELECT COUNT(*) FROM logs WHERE type = 2").fetchall()
    return quota, held, logs


async def customer(gateway: Gateway, fake: FakeOpenAI) -> tuple[dict, str]:
    await gateway.add_channel(fake.url)
    user = await gateway.add_user(quota=QUOTA)
    return user, await gateway.add_token(user["access_token"])


async def test_an_adaptor_that_raises_gives_the_reservation_back(tmp_path, make_gateway, serve_fake):
    path = str(tmp_path / "one-api.db")
    gateway = await make_gateway(SQLITE_PATH=path)
    fake = await serve_fake(QuotedUsage())
    user, key = await customer(gateway, fake)

    status, body = await post(gateway, key, json=CHAT)
    assert status == 500 and body["error"]["type"] == "one_api_error", body  # a bug, but not a held quota
    await gateway.drain()
    assert books(path, user["id"]) == (QUOTA, 0, 0)
    assert gateway.state.cache.user(user["id"]).quota == QUOTA, "the cached balance is whole again too"

    fake.quoted = False  # the next request is billed as usual: the refund did not release too much
    assert (await post(gateway, key, json=CHAT))[0] == 200
    await gateway.drain()
    quota, held, logs = books(path, user["id"])
    assert held == 0 and logs == 1 and quota < QUOTA


async def test_a_client_gone_before_the_first_event_gives_the_reservation_back(tmp_path, make_gateway,
                                                                               serve_fake):
    path = str(tmp_path / "one-api.db")
    gateway = await make_gateway(SQLITE_PATH=path)
    fake = await serve_fake(FakeOpenAI(gate=asyncio.Event()))
    user, key = await customer(gateway, fake)

    async def request() -> None:
        async with aiohttp.ClientSession() as http, http.post(
                gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True},
                headers={"Authorization": key}) as resp:
            await resp.read()

    client = asyncio.create_task(request())

    async def upstream_asked() -> bool:
        return len(fake.requests) == 1

    await eventually(upstream_asked, what="the request at the upstream")
    assert books(path, user["id"])[1] == 1, "the request holds a reservation while the upstream thinks"
    client.cancel()  # the client hangs up before any byte of the answer
    await asyncio.gather(client, return_exceptions=True)
    await asyncio.sleep(0)
    assert fake.gate is not None
    fake.gate.set()  # the upstream answers: the gateway finds nobody to answer to

    async def given_back() -> bool:
        await gateway.drain()
        return books(path, user["id"]) == (QUOTA, 0, 0)

    await eventually(given_back, what="the reservation given back")
    assert gateway.state.cache.user(user["id"]).quota == QUOTA
