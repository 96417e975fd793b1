"""A gateway run as a person runs it: ``python -m oneapi`` in its own process, stopped by a signal."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    """``python -m oneapi --port PORT [args]`` in ``cwd`` with ``env``; output goes to cwd/output.log."""

    def __init__(self, port: int, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**env, "PORT": str(port)}
        self.cwd = cwd
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        output = open(self.cwd / "output.log", "ab")  # noqa: SIM115 - the child keeps it open
        self.proc = subprocess.Popen([sys.executable, "-m", "oneapi", "--log-dir", str(self.cwd / "logs"),
                                      *self.args], cwd=self.cwd, env=self.env, stdout=output,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        output.close()

    def output(self) -> str:
        return (self.cwd / "output.log").read_text(errors="replace")

    async def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(self.url + path, **kwargs) as resp:
            return await resp.json(content_type=None)

    async def wait_ready(self, seconds: float = 60) -> None:
        """Until /api/status answers (generous: the machine is shared)."""
        deadline = time.monotonic() + seconds
        while True:
            assert self.proc is not None and self.proc.poll() is None, self.output()
            try:
                if (await self.get("/api/status", timeout=aiohttp.ClientTimeout(total=2)))["success"]:
                    return
            except (TimeoutError, aiohttp.ClientError):
                pass
            assert time.monotonic() < deadline, f"no answer within {seconds} s\n{self.output()}"
            await asyncio.sleep(0.2)

    async def stop(self, seconds: float = 60) -> int | None:
        """SIGTERM, then wait for the exit code (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(self.proc.pid, signal.SIGKILL)
                raise AssertionError(f"did not stop within {seconds} s\n{self.output()}")
            await asyncio.sleep(0.1)
        return self.proc.returncode
