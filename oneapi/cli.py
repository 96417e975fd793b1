"""``oneapi``: start the gateway. The flags are One API's; every other setting comes from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import peewee
from aiohttp import web

from oneapi import __version__
from oneapi.config import ConfigError, Settings, load_settings
from oneapi.security.redact import install_on_handlers
from oneapi.workers import Supervisor, WorkerRole


def _load_dotenv(path: Path = Path(".env")) -> None:
    """One API auto-loads ./.env; variables already set win."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        os.environ.setdefault(key, value.strip().strip("'\""))


def setup_logging(log_dir: str, debug: bool, only_one_file: bool) -> Path:
    """Log to stdout and to a file in ``log_dir``: oneapi-YYYYMMDD.log, or oneapi.log with ONLY_ONE_LOG_FILE."""
    directory = Path(log_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = "oneapi.log" if only_one_file else f"oneapi-{time.strftime('%Y%m%d')}.log"
    log_file = directory / name
    formatter = logging.Formatter("[%(levelname)s] %(asctime)s | %(name)s | %(message)s", "%Y/%m/%d - %H:%M:%S")
    root = logging.getLogger()
    root.handlers.clear()
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(log_file, encoding="utf-8")):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    install_on_handlers(root)  # every line, DEBUG included, goes through the one redactor
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return log_file


async def _shut_down_once(app: web.Application) -> None:
    """Replace aiohttp's SIGINT/SIGTERM handlers by ones that act on the first signal only.

    The one-file binary's launcher forwards signals to the server process, which also gets them directly
    when the whole process group is signalled (Ctrl-C, systemd's stop): a repeat would abort the graceful
    shutdown and cut in-flight requests."""
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if received:
            return
        received.append(signum)
        logging.getLogger("oneapi").info("%s: finishing in-flight requests, then flushing usage and logs",
                                         signal.Signals(signum).name)
        raise web.GracefulExit()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)


def _event_loop():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


@contextlib.contextmanager
def _start_up_errors(settings: Settings, host: str) -> Iterator[None]:
    """Turn the failures a person can fix (port taken, database unreachable) into one line."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise click.ClickException(f"cannot listen on {host}:{settings.port}: {exc.strerror}") from None
        raise click.ClickException(f"cannot reach the database ({settings.database_location()}): {exc}") from None
    except peewee.DatabaseError as exc:
        hint = " (a slave node needs a master to create the tables first)" if not settings.is_master else ""
        raise click.ClickException(f"database error at start-up: {exc}{hint}") from None


# Collect young objects once 50,000 more containers are alive than before, instead of 700: a relay's objects are
# freed by reference counting (almost none is in a cycle), and the default made the collector a tenth of the CPU
# under load.
_GC_THRESHOLD = (50_000, 10, 10)


async def _settle_the_heap(app: web.Application) -> None:
    """Move everything start-up built (modules, routes, caches) out of the collector's sight: a full collection
    then scans only what requests left behind."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLD)


def _serve(settings: Settings, host: str, role: WorkerRole) -> None:
    from oneapi.app import make_app

    app = make_app(settings, role)
    app.on_startup.append(_shut_down_once)
    app.on_startup.append(_settle_the_heap)
    with _start_up_errors(settings, host):
        web.run_app(app, host=host, port=settings.port, print=None, loop=_event_loop(),
                    shutdown_timeout=30, access_log=None, reuse_port=role.count > 1)


def _serve_worker(settings: Settings, host: str, role: WorkerRole) -> int:
    """One worker's life under the supervisor: its exit code."""
    try:
        _serve(settings, host, role)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0


async def _prepare_node(settings: Settings) -> None:
    from oneapi.app import prepare_database
    from oneapi.db.connect import connect

    dbs = connect(settings)
    try:
        await prepare_database(dbs, settings)
    finally:
        await dbs.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="oneapi")
@click.option("--port", type=int, default=None, help="Port to listen on (default 3000; the PORT variable wins).")
@click.option("--log-dir", default="./logs", show_default=True, help="Directory for the daily log file.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--workers", type=int, default=None,
              help="Processes serving the port, to use more cores (default 1, or the WORKERS variable).")
def main(port: int | None, log_dir: str, host: str, workers: int | None) -> None:
    """oneapi: an OpenAI-compatible LLM gateway (One API, in Python).

    Configuration is read from environment variables and ./.env: SQL_DSN, SQLITE_PATH, REDIS_CONN_STRING,
    SESSION_SECRET, SYNC_FREQUENCY, BATCH_UPDATE_ENABLED, RELAY_TIMEOUT and the others listed in the README.
    """
    _load_dotenv()
    try:
        overrides = {} if "PORT" in os.environ else {"port": port}
        settings = load_settings(os.environ, log_dir=log_dir, workers=workers, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    log_file = setup_logging(settings.log_dir, settings.debug, settings.only_one_log_file)
    logger = logging.getLogger("oneapi")
    logger.info("oneapi %s starting on %s:%s with %d worker(s), data in %s, log file %s", __version__, host,
                settings.port, settings.workers, settings.database_location(), log_file)
    if settings.workers == 1:
        _serve(settings, host, WorkerRole())
        return
    with _start_up_errors(settings, host):
        asyncio.run(_prepare_node(settings))
    code = Supervisor(settings.workers, lambda role: _serve_worker(settings, host, role)).run()
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
