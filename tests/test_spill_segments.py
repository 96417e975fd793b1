"""The ledger's write-ahead file under a load that never lets it be empty: it moves on to a new segment past
SEGMENT_BYTES and deletes the old one once all of it is in the database; what a dead process left is found
by the next one, whole, and only once."""

from __future__ import annotations

import orjson

from oneapi.billing.spill import SEGMENT_BYTES, SpillFile


def _record(i: int) -> bytes:
    return orjson.dumps({"log": {"n": i, "content": "x" * 500}})


def test_a_written_segment_goes_and_the_file_stays_small_while_records_keep_coming(tmp_path):
    spill = SpillFile("node-main", tmp_path)
    pending: list[int] = []
    largest = 0
    for i in range(20_000):  # about 10 MB in all, one record always waiting
        pending.append(spill.append([_record(i)]))
        if len(pending) > 1:
            spill.written(pending.pop(0))
        largest = max(largest, sum(path.stat().st_size for path in tmp_path.iterdir()))
    assert largest < 2 * SEGMENT_BYTES + 4096
    assert spill.path.name.endswith(f"-{pending[0]:06d}.jsonl") and pending[0] >= 5
    assert len(list(tmp_path.iterdir())) <= 2
    spill.written(pending.pop())
    spill.close()
    assert not list(tmp_path.iterdir()), "a clean stop with everything written leaves nothing"


def test_a_dead_processs_segments_are_replayed_by_the_next_one_once(tmp_path):
    dead = SpillFile("dead-main", tmp_path)
    for i in range(3000):  # more than one segment, none of it written
        dead.append([_record(i)])
    assert len(list(tmp_path.iterdir())) >= 2
    dead.close()  # what kill -9 leaves: the files, unlocked
    alive = SpillFile("alive-main", tmp_path)
    alive.append([_record(-1)])
    claimed = alive.claim_orphans()
    records = [record for _, found, _ in claimed for record in found]
    assert sorted(record["log"]["n"] for record in records) == list(range(3000))
    assert alive.claim_orphans() == [], "a file being replayed is locked: nobody else takes it"
    for path, _, handle in claimed:
        path.unlink()
        handle.close()
    [own] = list(tmp_path.iterdir())
    assert own == alive.path
