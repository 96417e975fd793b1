"""``--workers N``: N processes serving one port, so that one node uses every core.

The supervisor (the process started by the user) prepares the database once (migration, root user), then
forks the workers. Each binds the port itself with SO_REUSEPORT, so the kernel spreads connections over them.
The supervisor also carries cache changes between workers: every worker has a Unix socket to it and writes a
line per local cache write; the supervisor repeats the line to the other workers, which re-read that row
(oneapi/sync.py). A worker that dies is started again; SIGTERM or SIGINT stops them all, each finishing its
in-flight requests and writing its pending usage. Worker 0 runs the node's background jobs (the periodic
channel tests), so they run once per node; a restarted worker 0 takes them up again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 1.0
QUICK_EXIT_SECONDS = 5.0  # a worker that exits with an error this soon is failing to start: stop the node


@dataclass(frozen=True)
class WorkerRole:
    """Which worker this process is; ``bus`` is its socket to the supervisor (None when it runs alone)."""

    index: int = 0
    count: int = 1
    bus: socket.socket | None = None

    @property
    def runs_node_jobs(self) -> bool:
        return self.index == 0


@dataclass
class _Worker:
    pid: int
    sock: socket.socket
    started: float
    pending: bytes = b""


class Supervisor:
    def __init__(self, count: int, serve: Callable[[WorkerRole], int]) -> None:
        self.count = count
        self.serve = serve
        self.workers: dict[int, _Worker] = {}
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.exit_code = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def run(self) -> int:
        """Start the workers and look after them until they have all stopped; returns the exit code."""
        self.selector.register(self._wake_r, selectors.EVENT_READ)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, self._on_signal)
        for index in range(self.count):
            self._spawn(index)
        while self.workers:
            for key, _ in self.selector.select(timeout=1.0):
                if key.fileobj is self._wake_r:
                    self._drain_wakeups()
                else:
                    self._relay(key.data)
            self._reap()
        return self.exit_code

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum != signal.SIGCHLD and not self.stopping:
            self.stopping = True
            logger.info("%s: stopping %d workers", signal.Signals(signum).name, len(self.workers))
            for worker in self.workers.values():
                _signal(worker.pid, signal.SIGTERM)
        with contextlib.suppress(BlockingIOError):  # else a wake-up is already pending
            self._wake_w.send(b"x")

    def _drain_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(512):
                pass

    def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(signum, signal.SIG_DFL)
                self.selector.close()
                for sock in (ours, self._wake_r, self._wake_w, *(w.sock for w in self.workers.values())):
                    sock.close()
                code = self.serve(WorkerRole(index, self.count, theirs))
            except BaseException:
                logger.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        theirs.close()
        ours.setblocking(False)
        self.workers[index] = _Worker(pid, ours, time.monotonic())
        self.selector.register(ours, selectors.EVENT_READ, index)
        logger.info("worker %d started (pid %d)", index, pid)

    def _relay(self, index: int) -> None:
        """Repeat the complete lines worker ``index`` wrote to every other worker."""
        worker = self.workers.get(index)
        if worker is None:
            return
        try:
            data = worker.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the worker closed its end (it exited, or it uses Redis instead)
            self.selector.unregister(worker.sock)
            return
        worker.pending += data
        lines, _, worker.pending = worker.pending.rpartition(b"\n")
        if not lines:
            return
        for other_index, other in self.workers.items():
            if other_index != index:
                try:
                    other.sock.settimeout(SEND_TIMEOUT_SECONDS)  # a hung worker must not stall the others
                    other.sock.sendall(lines + b"\n")
                except OSError:  # gone (its successor loads the cache from the database) or hung
                    logger.warning("worker %d missed a cache change; its periodic reload will catch up",
                                   other_index)
                finally:
                    other.sock.setblocking(False)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index = next((i for i, w in self.workers.items() if w.pid == pid), None)
            if index is None:
                continue
            worker = self.workers.pop(index)
            with contextlib.suppress(KeyError, ValueError):  # already unregistered when it closed its end
                self.selector.unregister(worker.sock)
            worker.sock.close()
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                self.exit_code = self.exit_code or (code if code > 0 else 0)
                continue
            if code > 0 and time.monotonic() - worker.started < QUICK_EXIT_SECONDS:
                logger.error("worker %d exited at start-up (code %d): stopping the node", index, code)
                self.exit_code = code if code > 0 else 1
                self._on_signal(signal.SIGTERM, None)
                continue
            logger.warning("worker %d (pid %d) ended with code %d: starting it again", index, pid, code)
            self._spawn(index)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
