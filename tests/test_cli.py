"""The command line as a person meets it: flags, env variables, and one-line errors instead of tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from oneapi import __version__
from tests.chaos import free_port


def run(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oneapi", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_version_and_help():
    assert run("--version").stdout.strip() == f"oneapi, version {__version__}"
    help_text = run("--help").stdout
    for flag in ("--port", "--log-dir", "--workers", "--version", "--help"):
        assert flag in help_text


@pytest.mark.parametrize(("env", "variable"), [
    ({"PORT": "abc"}, "PORT"),
    ({"SQL_DSN": "root:pw@tcp(localhost:3306"}, "SQL_DSN"),
    ({"BATCH_UPDATE_ENABLED": "maybe"}, "BATCH_UPDATE_ENABLED"),
    ({"RELAY_TIMEOUT": "-5"}, "RELAY_TIMEOUT"),
    ({"REDIS_CONN_STRING": "localhost:6379"}, "REDIS_CONN_STRING"),
    ({"WORKERS": "0"}, "WORKERS"),
    ({"WORKERS": "two"}, "WORKERS"),
    ({"WORKERS": "65"}, "WORKERS"),
])
def test_invalid_settings_stop_start_up_with_one_line(tmp_path, env: dict[str, str], variable: str):
    result = run(env=env, cwd=str(tmp_path))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and variable in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_starts_on_the_given_port_with_a_fresh_database_and_log_file(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "SQL_DSN", "SQLITE_PATH")}
    proc = subprocess.Popen([sys.executable, "-m", "oneapi", "--port", str(port), "--log-dir", "./my-logs"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the gateway did not answer within 30 s"
                time.sleep(0.2)
        assert (tmp_path / "one-api.db").exists()
        assert list((tmp_path / "my-logs").glob("oneapi-*.log"))
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
