"""Data at size, checked by structure, never by time: routes kept up per channel, bounded per-client memory,
and scripts/bench_data.py running end to end in a tiny mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from oneapi.api import ratelimit
from oneapi.api.ratelimit import RATE_LIMITS, SlidingWindowLimiter
from oneapi.cache import Router
from oneapi.db.models import Channel
from oneapi.security import login_limits
from oneapi.security.login_limits import LOGIN_LIMITS
from tests.conftest import Gateway

ROOT = Path(__file__).resolve().parent.parent


def routes(router: Router, channels: list[Channel]) -> dict[str, Any]:
    """Everything a request can learn from a router: each group's models, each pair's tiers (priority,
    channel ids, cumulative weights) and which pairs are listed at all."""
    pairs = {(g.strip(), m.strip()) for c in channels for g in (c.group or "").split(",")
             for m in (c.models or "").split(",")} | {("default", "never-listed")}
    groups = {group for group, _ in pairs}
    return {"models": {group: router.models(group) for group in sorted(groups)},
            "tiers": {f"{g}/{m}": [(t.priority, [c.id for c in t.channels], t.cumulative) for t in router.tiers(g, m)]
                      for g, m in sorted(pairs)},
            "listed": sorted(f"{g}/{m}" for g, m in pairs if router.lists(g, m))}


async def test_channel_edits_keep_the_routes_equal_to_a_fresh_build(gateway: Gateway, fake_openai):
    """Creating, editing, disabling and deleting channels changes only their own routes; the result always
    equals the routes built from scratch out of the database's channels."""
    url = fake_openai.url
    batch = await gateway.api("POST", "/api/channel/", {
        "type": 1, "key": "\n".join(f"sk-{i}" for i in range(6)), "name": "batch", "base_url": url,
        "models": "gpt-3.5-turbo,gpt-4o", "group": "default,vip"})
    assert batch["success"]
    ids = batch["data"]
    await gateway.add_channel(url, models="gpt-4o,claude-3-haiku", priority=5, weight=3)
    await gateway.add_channel(url, models="gpt-4o", priority=5, weight=0, status=2)
    edits: list[dict[str, Any]] = [
        {"id": ids[0], "status": 2},                                  # disabled
        {"id": ids[1], "priority": 5},                                # moves to the top tier
        {"id": ids[2], "weight": 7},                                  # same routes, new weight
        {"id": ids[3], "models": "gpt-4o,o1-mini", "group": "vip"},   # different pairs
        {"id": ids[4], "key": "sk-new"},                              # same routes, new object
        {"id": ids[0], "status": 1},                                  # enabled again
    ]
    for edit in edits:
        assert (await gateway.api("PUT", "/api/channel/", edit))["success"], edit
        channels = await gateway.state.dbs.main.list(Channel.select())
        await gateway.state.dbs.release()
        assert routes(gateway.state.cache.router, channels) == routes(Router(channels), channels), edit
    assert (await gateway.api("DELETE", f"/api/channel/{ids[5]}"))["success"]
    channels = await gateway.state.dbs.main.list(Channel.select())
    await gateway.state.dbs.release()
    assert routes(gateway.state.cache.router, channels) == routes(Router(channels), channels)
    assert "default/o1-mini" not in routes(gateway.state.cache.router, channels)["listed"]
    cached = {c.id: c for t in gateway.state.cache.router.tiers("default", "gpt-3.5-turbo") for c in t.channels}
    assert cached[ids[4]].key == "sk-new" and cached[ids[4]] is gateway.state.cache.channel(ids[4])


async def test_per_client_counters_stay_bounded_under_a_flood_of_addresses_and_names(make_gateway,
                                                                                  monkeypatch: pytest.MonkeyPatch):
    """Requests and failed sign-ins from ever new addresses (claimed through the trusted loopback proxy) and
    names: the rate limiter and the login counters keep at most their caps (made small here) of entries, and
    the newest clients are still counted."""
    monkeypatch.setattr(ratelimit, "MAX_CLIENTS", 100)
    monkeypatch.setattr(login_limits, "MAX_KEYS", 20)
    gateway = await make_gateway(DEBUG="false", GLOBAL_API_RATE_LIMIT="3")
    for i in range(300):
        async with gateway.http.get(gateway.url + "/api/status",
                                    headers={"X-Forwarded-For": f"10.{i // 250}.{i % 250}.1"}) as resp:
            assert resp.status == 200
    for i in range(25):
        async with gateway.http.post(gateway.url + "/api/user/login", json={"username": f"nobody{i}", "password": "x"},
                                     headers={"X-Forwarded-For": f"10.9.{i}.1"}) as resp:
            assert not (await resp.json())["success"]
    limiter = gateway.app[RATE_LIMITS].limiters["GA"]
    assert isinstance(limiter, SlidingWindowLimiter)
    assert 0 < len(limiter._hits) <= 100
    assert 0 < len(gateway.app[LOGIN_LIMITS]._memory) <= 20
    newest = {"X-Forwarded-For": "10.1.49.1"}  # the 300th address: still limited after its three requests
    statuses = []
    for _ in range(3):
        async with gateway.http.get(gateway.url + "/api/status", headers=newest) as resp:
            statuses.append(resp.status)
    assert statuses == [200, 200, 429]


def test_bench_data_tiny_run_reports_start_relay_admin_memory_and_retention(tmp_path):
    out = tmp_path / "data.json"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_data.py"), "--rows", "2000", "--seconds",
                             "0.5", "--rounds", "1", "--calls", "2", "--requests", "400", "--json", str(out)],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["sizes"]["logs"] == 2000 and report["big"]["cached"]["channels"] == report["sizes"]["channels"]
    for name in ("empty", "big"):
        figures = report[name]
        assert 0 < figures["start_s"] < 120 and figures["cache_load_s"] > 0 and figures["rss_idle_mb"] > 10
        assert figures["rps"][0] > 0 and figures["cpu_ms"][0] > 0
        assert len(figures["admin"]) >= 20 and all(0 < p50 <= p95 for p50, p95 in figures["admin"].values())
    assert [done for done, _ in report["memory"]["samples"]] == [0, 100, 200, 300, 400]
    assert report["retention"]["rows"] > 0 and report["retention"]["relay_rps"] > 0
    for label in ("cache load s", "relay req/s mean", "big / empty", "log list deep page", "log search", "dashboard",
                  "token list deep page", "slope", "old logs took"):
        assert label in result.stdout, label
