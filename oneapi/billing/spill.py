"""A local file for writes the database cannot take right now, so that kill -9 during an outage loses nothing.

Each process owns ``oneapi-ledger-<instance>.jsonl`` in the working directory and holds an exclusive
``flock`` on it for its life. A file whose lock can be taken belongs to a dead process: the next process
to start replays it (replays are harmless: a settlement applies only through its journal row).
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


class SpillFile:
    def __init__(self, instance: str, directory: Path | None = None) -> None:
        self.directory = directory or Path.cwd()
        self.path = self.directory / f"{_PREFIX}{instance}.jsonl"
        self._file: Any = None

    def _open(self) -> Any:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - held (and locked) for the process's life
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self._file

    def append(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` durably (fsync) before they are kept only in memory."""
        file = self._open()
        file.write(b"".join(orjson.dumps(record) + b"\n" for record in records))
        file.flush()
        os.fsync(file.fileno())

    def clear(self) -> None:
        """Everything spilled is in the database now."""
        if self._file is not None:
            self._file.truncate(0)
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            empty = os.fstat(self._file.fileno()).st_size == 0
            self._file.close()
            self._file = None
            if empty:
                self.path.unlink(missing_ok=True)

    def claim_orphans(self) -> list[tuple[Path, list[dict[str, Any]], Any]]:
        """(path, records, locked handle) of every dead process's file here; the caller replays the records,
        deletes the file and then closes the handle, so no other process replays them at the same time."""
        found = []
        for path in sorted(self.directory.glob(f"{_PREFIX}*.jsonl")):
            if path == self.path:
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
