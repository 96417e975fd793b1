"""Keyset paging behind One API's ``?p=`` pages: where page p ended, so that page p + 1 starts there.

OFFSET reads and throws away every row before the page, so deep pages of a million logs get slow. The admin
pages walk p = 0, 1, 2, ...; remembering the last id of each page served lets the next one be read as
``id < last`` from the primary key. A page with no remembered predecessor falls back to OFFSET.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class PageCursors:
    """The last row id of recently served pages, per query (a bounded LRU)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._last: OrderedDict[tuple[Hashable, int], int] = OrderedDict()

    def after(self, query: Hashable, page: int) -> int | None:
        """The id that page ``page`` of ``query`` starts below, if the page before it was served."""
        if page <= 0:
            return None
        key = (query, page - 1)
        last = self._last.get(key)
        if last is not None:
            self._last.move_to_end(key)
        return last

    def remember(self, query: Hashable, page: int, last_id: int) -> None:
        self._last[(query, page)] = last_id
        self._last.move_to_end((query, page))
        while len(self._last) > self._size:
            self._last.popitem(last=False)
