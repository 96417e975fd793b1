"""The ledger's local write-ahead file: every settlement and log row is in it before its request is answered.

A settlement is appended here (a plain ``write``: the kernel keeps it through kill -9) and the answer goes
out at once; the database commit follows in the ledger's next batch. While the database is away the file is
also fsynced, as the writes may wait in it for long. Each process owns ``oneapi-ledger-<instance>-<n>.jsonl``
segments in the working directory and holds an exclusive ``flock`` on each for its life. A segment whose
lock can be taken belongs to a dead process: the next process to start replays it (replays are harmless:
a settlement applies only through its journal row, a log row only once). A segment is emptied or deleted
once everything in it is in the database, so the files stay small under any load.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

_PREFIX = "oneapi-ledger-"
SEGMENT_BYTES = 1 << 20  # past this a new segment is started; the old one is deleted once all of it is written
_TRUNCATE_BYTES = 64 << 10  # the current segment is emptied when all of it is written and it is this big


class SpillFile:
    def __init__(self, instance: str, directory: Path | None = None) -> None:
        self.directory = directory or Path.cwd()
        self._instance = instance
        self._segment = 0
        self._fd: int | None = None
        self._size = 0
        self._pending: dict[int, int] = {}  # segment -> records in it not yet in the database
        self._fds: dict[int, int] = {}

    @property
    def path(self) -> Path:
        """The segment being written."""
        return self._path(self._segment)

    def _path(self, segment: int) -> Path:
        return self.directory / f"{_PREFIX}{self._instance}-{segment:06d}.jsonl"

    def _open(self) -> int:
        if self._fd is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held for the process's life
            self._fd, self._size = fd, os.fstat(fd).st_size
            self._fds[self._segment] = fd
            self._pending.setdefault(self._segment, 0)
        return self._fd

    def append(self, records: list[bytes], sync: bool = False) -> int:
        """Write orjson-encoded ``records``; returns their segment, to be given to ``written`` once they are in
        the database. ``sync``: fsync too (the database is away, and they may wait here a while)."""
        if self._size >= SEGMENT_BYTES:
            self._next_segment()
        fd = self._open()
        data = memoryview(b"\n".join(records) + b"\n")
        self._size += len(data)
        while data:
            data = data[os.write(fd, data):]
        if sync:
            os.fsync(fd)
        self._pending[self._segment] += len(records)
        return self._segment

    def _next_segment(self) -> None:
        old, self._fd = self._segment, None
        self._segment += 1
        if self._pending.get(old) == 0:
            self._delete(old)

    def _delete(self, segment: int) -> None:
        os.close(self._fds.pop(segment))
        del self._pending[segment]
        self._path(segment).unlink(missing_ok=True)

    def sync(self) -> None:
        """fsync what is written so far (the database went away while records waited here)."""
        for fd in self._fds.values():
            os.fsync(fd)

    def written(self, segment: int) -> None:
        """One record of ``segment`` is in the database now."""
        left = self._pending[segment] = self._pending[segment] - 1
        if left:
            return
        if segment != self._segment:
            self._delete(segment)
        elif self._size >= _TRUNCATE_BYTES and self._fd is not None:
            os.ftruncate(self._fd, 0)
            self._size = 0

    def close(self) -> None:
        """Close every segment; the empty ones (all written) are deleted."""
        for segment, fd in self._fds.items():
            if self._pending.get(segment, 0) == 0:
                self._path(segment).unlink(missing_ok=True)
            os.close(fd)
        self._fds.clear()
        self._pending.clear()
        self._fd = None

    def claim_orphans(self) -> list[tuple[Path, list[dict[str, Any]], Any]]:
        """(path, records, locked handle) of every dead process's file here; the caller replays the records,
        deletes the file and then closes the handle, so no other process replays them at the same time."""
        found = []
        for path in sorted(self.directory.glob(f"{_PREFIX}*.jsonl")):
            if path.name.startswith(f"{_PREFIX}{self._instance}-"):
                continue
            try:
                file = open(path, "rb")  # noqa: SIM115 - returned locked to the caller
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.close()
                continue  # its owner is alive, or another process is replaying it
            if not path.exists():
                file.close()
                continue  # replayed and deleted while we waited for the lock
            records = []
            for line in file.read().splitlines():
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    logger.error("skipping a torn line at the end of %s", path)  # the crash came mid-write
            found.append((path, records, file))
        return found
