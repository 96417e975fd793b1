#!/usr/bin/env python3
"""Measure the gateway against its ceiling, in one run on one machine.

Three targets answer the same chat request, each in its own process:
  direct  the fake OpenAI upstream itself (the floor: no proxy at all)
  bare    a bare aiohttp reverse proxy: bearer check against a dict, forward, stream back; no billing
  oneapi  the gateway with auth, quota reservation, settlement and consume logs on (SQLite)
For non-stream and stream requests at concurrency 1, 16, 64 and 256 it prints requests/s, p50 and p99,
and the gateway's throughput as a ratio of the other two. Absolute numbers move with the machine's load;
the ratios, measured side by side, are what to compare.

    python scripts/bench.py [--seconds 3] [--concurrency 1,16,64,256]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
BODY = b'{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
STREAM_BODY = BODY[:-1] + b',"stream":true}'
ROOT_TOKEN = "benchbenchbenchbenchbenchbenchbenchbenchbenchbe"
ACCESS_TOKEN = "b" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the two helper servers, run as `bench.py --serve fake|bare PORT [UPSTREAM]` ------------------
def serve_fake(port: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.openai_upstream import FakeOpenAI

    fake = FakeOpenAI(chunks=20)
    web.run_app(fake.app(), host="127.0.0.1", port=port, print=None, access_log=None, loop=_loop())


def serve_bare(port: int, upstream: str) -> None:
    keys = {f"Bearer sk-{ROOT_TOKEN}": "sk-upstream"}

    async def proxy(request: web.Request) -> web.StreamResponse:
        upstream_key = keys.get(request.headers.get("Authorization", ""))
        if upstream_key is None:
            return web.json_response({"error": {"message": "invalid key"}}, status=401)
        body = await request.read()
        session: aiohttp.ClientSession = request.app["session"]
        async with session.post(upstream + request.path, data=body, headers={
            "Authorization": f"Bearer {upstream_key}", "Content-Type": "application/json"}) as resp:
            if resp.content_type != "text/event-stream":
                return web.Response(body=await resp.read(), status=resp.status, content_type=resp.content_type)
            out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await out.prepare(request)
            async for data in resp.content.iter_any():
                await out.write(data)
            return out

    async def start(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    app = web.Application()
    app.router.add_post("/v1/chat/completions", proxy)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=_loop())


def _loop():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


# -- the load generator --------------------------------------------------------------------------
async def load(url: str, key: str, body: bytes, concurrency: int, seconds: float,
               stream: bool) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    data = await resp.read()
                    if resp.status != 200 or (stream and not data.endswith(b"data: [DONE]\n\n")):
                        errors += 1
                latencies.append(time.perf_counter() - start)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"{errors} failed requests against {url}")
    return len(latencies) / elapsed, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def setup_gateway(base: str, upstream: str) -> None:
    headers = {"Authorization": ACCESS_TOKEN}
    async with aiohttp.ClientSession() as session, session.post(base + "/api/channel/", headers=headers, json={
        "type": 1, "name": "bench", "key": "sk-upstream", "base_url": upstream, "models": "gpt-3.5-turbo",
        "group": "default"}) as resp:
        assert (await resp.json())["success"], "could not create the bench channel"


async def main(seconds: float, levels: list[int]) -> None:
    ports = {name: free_port() for name in ("fake", "bare", "oneapi")}
    upstream = f"http://127.0.0.1:{ports['fake']}"
    workdir = tempfile.mkdtemp(prefix="oneapi-bench-")
    env = {**os.environ, "PORT": str(ports["oneapi"]), "SQLITE_PATH": f"{workdir}/one-api.db",
           "INITIAL_ROOT_TOKEN": ROOT_TOKEN, "INITIAL_ROOT_ACCESS_TOKEN": ACCESS_TOKEN, "DEBUG": "false"}
    procs = [
        subprocess.Popen([sys.executable, __file__, "--serve", "fake", str(ports["fake"])]),
        subprocess.Popen([sys.executable, __file__, "--serve", "bare", str(ports["bare"]), upstream]),
        subprocess.Popen([sys.executable, "-m", "oneapi", "--log-dir", f"{workdir}/logs"], env=env, cwd=workdir,
                         stdout=subprocess.DEVNULL),
    ]
    try:
        for name in ports:
            await wait_up(f"http://127.0.0.1:{ports[name]}/")
        await setup_gateway(f"http://127.0.0.1:{ports['oneapi']}", upstream)
        print(f"{os.cpu_count()} CPUs; load generator, fake upstream, bare proxy and gateway share them; "
              f"{seconds:g} s per cell\n")
        print(f"{'mode':<10}{'c':>4} | {'direct rps':>10} {'p50':>6} {'p99':>6} | {'bare rps':>9} {'p50':>6} "
              f"{'p99':>6} | {'oneapi rps':>10} {'p50':>6} {'p99':>6} | {'/bare':>6} {'/direct':>7}")
        for mode, body in (("non-stream", BODY), ("stream", STREAM_BODY)):
            for c in levels:
                row = {}
                for name in ("fake", "bare", "oneapi"):
                    url = f"http://127.0.0.1:{ports[name]}/v1/chat/completions"
                    key = "sk-upstream" if name == "fake" else f"sk-{ROOT_TOKEN}"
                    await load(url, key, body, c, min(1.0, seconds), mode == "stream")  # warm up
                    rps, lat = await load(url, key, body, c, seconds, mode == "stream")
                    row[name] = (rps, percentile(lat, 0.5), percentile(lat, 0.99))
                f, b, g = row["fake"], row["bare"], row["oneapi"]
                print(f"{mode:<10}{c:>4} | {f[0]:>10.0f} {f[1]:>6.1f} {f[2]:>6.1f} | {b[0]:>9.0f} {b[1]:>6.1f} "
                      f"{b[2]:>6.1f} | {g[0]:>10.0f} {g[1]:>6.1f} {g[2]:>6.1f} | {g[0] / b[0]:>6.2f} "
                      f"{g[0] / f[0]:>7.2f}")
        print("\nlatencies in ms; /bare and /direct are the gateway's requests/s divided by theirs")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        if sys.argv[2] == "fake":
            serve_fake(int(sys.argv[3]))
        else:
            serve_bare(int(sys.argv[3]), sys.argv[4])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,16,64,256")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, [int(c) for c in args.concurrency.split(",")]))
