#!/usr/bin/env python3
"""Measure the gateway on a database at size: 1 M logs, 10 k tokens, 1 k channels x 100 models (issue 15, 6 and 3).

It seeds a database with bulk INSERTs in transactions (SQLite in a temporary directory, or --dsn for MySQL /
PostgreSQL, whose database it empties first), then starts two gateways: one on that database and one on an
empty one, both pinned to core 0 with the upstream and this load generator on core 1 (scripts/bench.py's
processes and helpers). It prints:
  seed        seconds to write the rows
  start       seconds from spawning each gateway to its first answer; the cache load (tokens, users,
              channels, routes) timed in this process on the same database
  relay       req/s at concurrency 64, the big database next to the empty one, in alternating rounds
  admin       median and p95 milliseconds of N calls of each admin read (log list with each filter, deep
              pages, search, stats, own logs, dashboard, token / channel / user pages)
  memory      with --requests N: N relayed requests over 1,000 tokens, the gateway's RSS every 50,000 and
              the slope of the series in MB per 100,000 requests

    python scripts/bench_data.py [--rows 1000000] [--seconds 3] [--calls 20] [--requests 0] [--dsn DSN]

Figures move with the machine's load; print the load average with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench

MODELS = [bench.MODEL] + [f"model-{i:03d}" for i in range(1, 100)]
CONTENT = "模型倍率 15.00，分组倍率 1.00，补全倍率 2.00"
LOG_COLUMNS = ("user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
               "prompt_tokens", "completion_tokens", "channel_id", "request_id", "elapsed_time", "is_stream",
               "system_prompt_reset")
DAYS = 30
BATCH = 500  # rows per INSERT statement
SAMPLE_EVERY = 50_000
ROOT_TOKEN_SHARE = 10  # every 10th token is root's, so that its token list has deep pages


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sizes(rows: int) -> dict[str, int]:
    """The issue's proportions: 1 M logs with 10 k tokens and 1 k channels; 1,000 users; smaller runs scale."""
    scale = min(1.0, rows / 1_000_000)
    return {"logs": rows, "tokens": max(20, int(10_000 * scale)), "channels": max(10, int(1000 * scale)),
            "users": max(10, int(1000 * scale)), "models": len(MODELS)}


# -- seeding ---------------------------------------------------------------------------------------
async def insert(db: Any, dbs: Any, table: type, rows: list[dict[str, Any]]) -> None:
    """peewee insert_many in BATCH-row statements, one transaction per 50,000 rows."""
    for start in range(0, len(rows), 50_000):
        async with dbs.write_transaction(db):
            part = rows[start:start + 50_000]
            for offset in range(0, len(part), BATCH):
                await db.aexecute(table.insert_many(part[offset:offset + BATCH]))  # type: ignore[attr-defined]


def log_row(i: int, count: int, now: int, size: dict[str, int]) -> tuple[Any, ...]:
    """Row ``i`` of ``count``, in time order over DAYS days; a skewed mix (a fifth of the rows are root's or
    the 20 heaviest users') with a few models per user, as real traffic has; every tenth row is a top-up."""
    rng = random.Random(i)
    users = size["users"]
    user = 1 if i % 5 == 0 else (2 + rng.randrange(20) if i % 5 == 1 else 2 + rng.randrange(users))
    model = MODELS[(user * 7 + rng.randrange(3)) % len(MODELS)]
    log_type = 1 if i % 10 == 9 else 2
    created = now - DAYS * 86400 + (DAYS * 86400 - 60) * i // max(count, 1)
    return (user, created, log_type, CONTENT if log_type == 2 else "通过兑换码充值 $10.000000 额度",
            "root" if user == 1 else f"user{user}", f"token-{user}", model if log_type == 2 else "",
            rng.randrange(100, 5000), rng.randrange(10, 2000), rng.randrange(10, 1000),
            1 + i % size["channels"], f"req{i:012d}", rng.randrange(200, 3000), i % 3 == 0, False)


async def seed(dbs: Any, size: dict[str, int], upstream: str) -> str:
    """Users, tokens, channels with their abilities, logs and their hourly sums; returns the bench token's key."""
    from oneapi.db.models import Ability, Channel, Token, User

    db, now = dbs.main, int(time.time())
    await insert(db, dbs, User, [{"id": uid, "username": f"user{uid}", "password": "x", "display_name": f"User {uid}",
                                  "quota": 10**12, "group": "default"} for uid in range(2, size["users"] + 2)])
    tokens = [{"id": tid, "user_id": 1 if tid % ROOT_TOKEN_SHARE == 0 else 2 + tid % size["users"],
               "key": f"{tid:08d}" + "t" * 40, "name": f"token-{tid}", "created_time": now, "remain_quota": 10**15,
               "unlimited_quota": tid % 2 == 0} for tid in range(2, size["tokens"] + 2)]
    await insert(db, dbs, Token, tokens)
    models = ",".join(MODELS)
    await insert(db, dbs, Channel, [{"id": cid, "type": 1, "key": bench.UPSTREAM_KEY, "name": f"channel-{cid}",
                                     "base_url": upstream, "models": models, "group": "default", "created_time": now}
                                    for cid in range(1, size["channels"] + 1)])
    await insert(db, dbs, Ability, [{"group": "default", "model": model, "channel_id": cid, "enabled": True,
                                     "priority": 0} for cid in range(1, size["channels"] + 1) for model in MODELS])
    logs = dbs.logs
    param = "?" if type(logs).__name__ == "AsyncSqliteDatabase" else "%s"
    values = "(" + ", ".join([param] * len(LOG_COLUMNS)) + ")"
    head, count = f"INSERT INTO logs ({', '.join(LOG_COLUMNS)}) VALUES ", size["logs"]
    for start in range(0, count, 50_000):
        async with dbs.write_transaction(logs):
            for offset in range(start, min(start + 50_000, count), BATCH):
                rows = [log_row(i, count, now, size) for i in range(offset, min(offset + BATCH, count))]
                await logs.aexecute_sql(head + ", ".join([values] * len(rows)), [v for row in rows for v in row])
    await roll_up_all(dbs)
    await dbs.release()
    return tokens[0]["key"]


async def roll_up_all(dbs: Any) -> None:
    """log_hourly and its mark as the background step leaves them once it has caught up (one GROUP BY)."""
    from peewee import SQL, Expression, fn

    from oneapi.db.models import Log, LogHourly, LogRollupMark
    from oneapi.log_rollup import MARK, time_bucket

    db = dbs.logs
    hour = Expression(time_bucket(db, Log.created_at, 3600), "*", SQL("3600"))
    summed = (Log.select(Log.user_id, hour, Log.model_name, fn.COUNT(Log.id), fn.SUM(Log.quota),
                         fn.SUM(Log.prompt_tokens), fn.SUM(Log.completion_tokens))
              .where(Log.type == 2).group_by(Log.user_id, hour, Log.model_name))
    async with dbs.write_transaction(db):
        await db.aexecute(LogHourly.insert_from(summed, [LogHourly.user_id, LogHourly.hour, LogHourly.model_name,
                                                         LogHourly.requests, LogHourly.quota,
                                                         LogHourly.prompt_tokens, LogHourly.completion_tokens]))
        last = await db.scalar(Log.select(fn.MAX(Log.id)))
        await db.aexecute(LogRollupMark.insert(name=MARK, last_log_id=last or 0)
                          .on_conflict(conflict_target=None if "MySQL" in type(db).__name__ else [LogRollupMark.name],
                                       update={LogRollupMark.last_log_id: last or 0}))


# -- the databases ---------------------------------------------------------------------------------
async def prepare(env: dict[str, str], size: dict[str, int] | None, upstream: str, empty_first: bool) -> dict[str, Any]:
    """Migrate (and create root) like a first start, seed when ``size`` is given, and time a cache load."""
    from oneapi.app import prepare_database
    from oneapi.cache import Cache
    from oneapi.config import load_settings
    from oneapi.db.connect import connect
    from oneapi.db.models import LOG_MODELS, MAIN_MODELS

    settings = load_settings(env)
    dbs = connect(settings)
    result: dict[str, Any] = {}
    try:
        if empty_first:
            await dbs.main.run(drop_tables, dbs.main, [*MAIN_MODELS, *LOG_MODELS])
        await prepare_database(dbs, settings)
        if size is not None:
            started = time.monotonic()
            result["key"] = await seed(dbs, size, upstream)
            result["seed_s"] = time.monotonic() - started
            result["keys"] = [f"{tid:08d}" + "t" * 40 for tid in range(2, min(size["tokens"], 1000) + 2)]
        cache = Cache()
        started = time.monotonic()
        await cache.load(dbs)
        result["cache_load_s"] = time.monotonic() - started
        result["cached"] = {"tokens": len(cache.tokens), "channels": len(cache.channels),
                            "routes": sum(len(cache.router.models(g)) for g in ("default",))}
    finally:
        await dbs.close()
    return result


def drop_tables(db: Any, models: list[Any]) -> None:
    db.drop_tables(models, safe=True)


# -- load ------------------------------------------------------------------------------------------
async def relay_load(session: aiohttp.ClientSession, url: str, keys: list[str], total: int | None = None,
                     seconds: float | None = None, on_count: Any = None) -> list[float]:
    """bench.CONCURRENCY clients cycling over ``keys``, until ``total`` requests or ``seconds``; each
    request's seconds. ``on_count(done)`` is called after every request."""
    data, done, deadline = bench.body(bench.MODEL, False), 0, time.monotonic() + (seconds or 1e9)
    times: list[float] = []
    headers = [{"Authorization": f"Bearer sk-{key}", "Content-Type": "application/json"} for key in keys]

    async def client() -> None:
        nonlocal done
        while (total is None or done < total) and time.monotonic() < deadline:
            index, started = done, time.perf_counter()
            done += 1
            async with session.post(url, data=data, headers=headers[index % len(headers)]) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"status {resp.status} from {url}")
            times.append(time.perf_counter() - started)
            if on_count is not None:
                on_count(len(times))

    await asyncio.gather(*(client() for _ in range(bench.CONCURRENCY)))
    return times


def admin_paths(size: dict[str, int]) -> list[tuple[str, str]]:
    now = int(time.time())
    day = 86400
    deep_tokens = max(0, size["tokens"] // ROOT_TOKEN_SHARE // 10 - 1)
    deep_rows = max(0, min(size["channels"], size["users"]) // 10 - 1)
    return [
        ("log list p0", "/api/log/?p=0"),
        ("log list as the log page opens it", f"/api/log/?p=0&type=0&username=&token_name=&model_name="
                                              f"&start_timestamp=0&end_timestamp={now + 3600}&channel="),
        ("log list next page (keyset)", "/api/log/?p=1"),
        ("log list deep page (offset)", f"/api/log/?p={size['logs'] // 200}"),
        ("log list type=2", "/api/log/?p=0&type=2"),
        ("log list type=2 deep page", f"/api/log/?p={size['logs'] // 2000}&type=2"),
        ("log list username", "/api/log/?p=0&username=user7"),
        ("log list token_name", "/api/log/?p=0&token_name=token-7"),
        ("log list model_name", "/api/log/?p=0&model_name=model-042"),
        ("log list time range (1 day)", f"/api/log/?p=0&start_timestamp={now - 3 * day}&end_timestamp={now - 2 * day}"),
        ("log list time range (7 days)", f"/api/log/?p=0&type=2&start_timestamp={now - 7 * day}&end_timestamp={now}"),
        ("log list old day", f"/api/log/?p=0&start_timestamp={now - 25 * day}&end_timestamp={now - 24 * day}"),
        ("log list all filters", f"/api/log/?p=0&type=2&username=user7&model_name={MODELS[49]}"
                                 f"&start_timestamp={now - 20 * day}&end_timestamp={now}"),
        ("log list rare model + type", "/api/log/?p=0&type=2&model_name=no-such-model"),
        ("log search (matches)", "/api/log/search?keyword=%E6%A8%A1%E5%9E%8B"),
        ("log search type number", "/api/log/search?keyword=1"),
        ("log search (no match)", "/api/log/search?keyword=zzz"),
        ("log stat type=2", "/api/log/stat?type=2"),
        ("log stat 7 days", f"/api/log/stat?type=2&start_timestamp={now - 7 * day + 123}&end_timestamp={now}"),
        ("log stat username", "/api/log/stat?type=2&username=user7"),
        ("log stat model_name", "/api/log/stat?type=2&model_name=model-042"),
        ("log stat token_name", "/api/log/stat?type=2&token_name=token-7"),
        ("log self p0 (root)", "/api/log/self/?p=0"),
        ("log self stat", "/api/log/self/stat?type=2"),
        ("log self search", "/api/log/self/search?keyword=2"),
        ("dashboard", "/api/user/dashboard"),
        ("token list p0", "/api/token/?p=0"),
        ("token list deep page", f"/api/token/?p={deep_tokens}"),
        ("channel list p0", "/api/channel/?p=0"),
        ("channel list deep page", f"/api/channel/?p={deep_rows}"),
        ("user list p0", "/api/user/?p=0"),
        ("user list deep page", f"/api/user/?p={deep_rows}"),
    ]


async def admin_latency(base: str, size: dict[str, int], calls: int) -> dict[str, tuple[float, float]]:
    """Median and p95 milliseconds of ``calls`` sequential calls of each admin read (after one warm-up)."""
    result = {}
    async with aiohttp.ClientSession(headers={"Authorization": bench.ACCESS_TOKEN}) as session:
        for label, path in admin_paths(size):
            times = []
            for _ in range(calls + 1):
                started = time.perf_counter()
                async with session.get(base + path) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status != 200 or not answer.get("success"):
                        raise SystemExit(f"{path}: {resp.status} {answer}")
                times.append(time.perf_counter() - started)
            times = times[1:]
            result[label] = (bench.percentile(times, 0.5), bench.percentile(times, 0.95))
    return result


async def during_retention(base: str, url: str, keys: list[str], days: int) -> dict[str, float]:
    """Delete the logs older than ``days`` days (the admin's button, as the retention loop does) while relaying:
    rows deleted, seconds it took, relay req/s and p99 ms meanwhile."""
    deleting: dict[str, Any] = {}

    async def delete() -> None:
        started = time.monotonic()
        params = {"target_timestamp": int(time.time()) - days * 86400}
        async with (aiohttp.ClientSession(headers={"Authorization": bench.ACCESS_TOKEN}) as admin,
                    admin.delete(base + "/api/log/", params=params, timeout=aiohttp.ClientTimeout(total=3600)) as resp):
            deleting["rows"] = (await resp.json())["data"]
        deleting["seconds"] = time.monotonic() - started

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        task = asyncio.create_task(delete())
        started, times = time.monotonic(), []
        while not task.done():
            times += await relay_load(session, url, keys, seconds=0.5)
        await task
        elapsed = time.monotonic() - started
    return {"rows": deleting["rows"], "delete_s": deleting["seconds"], "relay_rps": len(times) / elapsed,
            "relay_p99_ms": bench.percentile(times, 0.99), "relay_max_ms": max(times) * 1000}


async def memory_growth(url: str, pid: int, keys: list[str], requests: int) -> list[tuple[int, float]]:
    """RSS (MB) after every SAMPLE_EVERY requests (and at 0)."""
    samples = [(0, bench.rss_mb(pid))]
    step = min(SAMPLE_EVERY, max(1, requests // 4))

    def sample(done: int) -> None:
        if done % step == 0:
            samples.append((done, bench.rss_mb(pid)))
            progress(f"{done} requests: RSS {samples[-1][1]:.1f} MB")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await relay_load(session, url, keys, total=requests, on_count=sample)
    return samples


def slope(samples: list[tuple[int, float]]) -> float:
    """Least-squares MB per 100,000 requests, the first sample (the warm-up's growth) left out."""
    points = samples[1:] if len(samples) > 2 else samples
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var * 100_000 if var else 0.0


# -- the run ---------------------------------------------------------------------------------------
async def main(args: argparse.Namespace) -> dict[str, Any]:
    if bench.pinning():
        os.sched_setaffinity(0, bench.LOAD_CPUS)
    size = sizes(args.rows)
    port = bench.free_port()
    upstream = f"http://127.0.0.1:{port}"
    procs = {"upstream": bench.spawn([sys.executable, bench.__file__, "--serve", "upstream", str(port)],
                                     bench.LOAD_CPUS)}
    report: dict[str, Any] = {"sizes": size, "backend": "sqlite" if not args.dsn else args.dsn.split(":")[0],
                              "load_average": os.getloadavg(), "cpus": os.cpu_count()}
    envs: dict[str, tuple[dict[str, str], str]] = {}
    try:
        bases, prepared = {}, {}
        for name in ("empty", "big"):
            workdir = tempfile.mkdtemp(prefix=f"oneapi-bench-data-{name}-")
            gw_port = bench.free_port()
            extra = {"GLOBAL_API_RATE_LIMIT": "0"}
            if name == "big" and args.dsn:
                extra["SQL_DSN"] = args.dsn
            envs[name] = (bench.gateway_env(gw_port, workdir, extra), workdir)
            progress(f"preparing the {name} database in {workdir}")
            bases[name] = f"http://127.0.0.1:{gw_port}"
            prepared[name] = await prepare(envs[name][0], size if name == "big" else None, upstream,
                                           empty_first=name == "big" and bool(args.dsn))
        await bench.wait_up(f"{upstream}/")
        report["seed_s"] = prepared["big"]["seed_s"]
        for name in ("empty", "big"):
            env, workdir = envs[name]
            started = time.monotonic()
            procs[name] = bench.spawn([*bench.gateway_command(None), "--log-dir", f"{workdir}/logs"],
                                      bench.PROXY_CPUS, env=env, cwd=workdir)
            await bench.wait_up(bases[name] + "/api/status", timeout=300)
            report[name] = {"start_s": time.monotonic() - started, "cache_load_s": prepared[name]["cache_load_s"],
                            "cached": prepared[name]["cached"], "rss_idle_mb": bench.rss_mb(procs[name].pid)}
        progress("measuring relay throughput")
        keys = {"empty": (await bench.setup_gateway(bases["empty"], upstream)).removeprefix("sk-"),
                "big": prepared["big"]["key"]}
        for _ in range(args.rounds):
            for name in ("empty", "big"):
                headers = {"Authorization": f"Bearer sk-{keys[name]}", "Content-Type": "application/json"}
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), headers=headers) as session:
                    rps, cpu = await bench.throughput(session, bases[name] + "/v1/chat/completions",
                                                      procs[name].pid, False, args.seconds)
                report[name].setdefault("rps", []).append(rps)
                report[name].setdefault("cpu_ms", []).append(cpu)
        progress("measuring the admin reads")
        for name in ("empty", "big"):
            report[name]["admin"] = await admin_latency(bases[name], size, args.calls)
        relay = bases["big"] + "/v1/chat/completions"
        if args.requests:
            progress(f"relaying {args.requests} requests for the memory series")
            samples = await memory_growth(relay, procs["big"].pid, prepared["big"]["keys"], args.requests)
            report["memory"] = {"requests": args.requests, "samples": samples, "slope_mb_per_100k": slope(samples)}
        if args.retention_days:
            progress("deleting old logs while relaying")
            report["retention"] = await during_retention(bases["big"], relay, prepared["big"]["keys"],
                                                         args.retention_days)
        report["load_average_end"] = os.getloadavg()
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=60)
        if not args.keep:
            for _, workdir in envs.values():
                shutil.rmtree(workdir, ignore_errors=True)
    return report


def print_report(report: dict[str, Any]) -> None:
    size, empty, big = report["sizes"], report["empty"], report["big"]
    print(f"{report['cpus']} CPUs, gateways pinned to core 0, upstream and load generator on core 1; "
          f"{report['backend']}; load average {report['load_average'][0]:.2f} at start, "
          f"{report['load_average_end'][0]:.2f} at end")
    print(f"big database: {size['logs']:,} logs, {size['tokens']:,} tokens, {size['users']:,} users, "
          f"{size['channels']:,} channels x {size['models']} models ({size['channels'] * size['models']:,} abilities); "
          f"seeded in {report['seed_s']:.1f} s\n")
    print(f"{'':<36}{'empty':>12}{'big':>12}")
    print(f"{'start to first answer s':<36}{empty['start_s']:>12.2f}{big['start_s']:>12.2f}")
    print(f"{'cache load s':<36}{empty['cache_load_s']:>12.3f}{big['cache_load_s']:>12.3f}")
    print(f"{'RSS MB idle':<36}{empty['rss_idle_mb']:>12.0f}{big['rss_idle_mb']:>12.0f}")
    rounds = len(big["rps"])
    for i in range(rounds):
        label = f"relay req/s c={bench.CONCURRENCY}, round {i + 1}"
        print(f"{label:<36}{empty['rps'][i]:>12.0f}{big['rps'][i]:>12.0f}")
    mean_empty, mean_big = sum(empty["rps"]) / rounds, sum(big["rps"]) / rounds
    print(f"{'relay req/s mean':<36}{mean_empty:>12.0f}{mean_big:>12.0f}   big / empty {mean_big / mean_empty:.3f} "
          "(target >= 0.95)")
    cpu_empty, cpu_big = sum(empty["cpu_ms"]) / rounds, sum(big["cpu_ms"]) / rounds
    print(f"{'  CPU ms per request (mean)':<36}{cpu_empty:>12.3f}{cpu_big:>12.3f}")
    print(f"\nadmin reads, ms over {report['calls']} calls{'':<5}{'empty p50':>10}{'p95':>8}{'big p50':>10}{'p95':>8}"
          "   (target < 100)")
    for label, (p50, p95) in big["admin"].items():
        e50, e95 = empty["admin"][label]
        print(f"{label:<36}{e50:>10.1f}{e95:>8.1f}{p50:>10.1f}{p95:>8.1f}")
    if "memory" in report:
        memory = report["memory"]
        print(f"\nmemory over {memory['requests']:,} requests (c={bench.CONCURRENCY}, 1,000 tokens), RSS MB:")
        print("  " + ", ".join(f"{done // 1000}k: {rss:.1f}" for done, rss in memory["samples"]))
        print(f"  slope {memory['slope_mb_per_100k']:+.2f} MB per 100k requests (first sample left out)")
    if "retention" in report:
        kept = report["retention"]
        print(f"\ndeleting {kept['rows']:,} old logs took {kept['delete_s']:.1f} s; relays meanwhile "
              f"{kept['relay_rps']:.0f} req/s, p99 {kept['relay_p99_ms']:.1f} ms, max {kept['relay_max_ms']:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="log rows (tokens, users, channels scale)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each relay throughput round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating relay rounds per database")
    parser.add_argument("--calls", type=int, default=20, help="calls of each admin read")
    parser.add_argument("--requests", type=int, default=0, help="memory growth: relay this many requests")
    parser.add_argument("--retention-days", type=int, default=27,
                        help="finally delete logs older than this while relaying (0: skip)")
    parser.add_argument("--dsn", help="seed and serve the big database on this SQL_DSN (its tables are dropped)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite databases (their paths go to stderr)")
    args = parser.parse_args()
    figures = asyncio.run(main(args))
    figures["calls"] = args.calls
    print_report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
