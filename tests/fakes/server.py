"""What every fake upstream is built on: the routes it serves, refusals raised from its checks, and the record
of what it was sent. The provider's own checks and wire format stay in the fake's module.

conftest's ``serve_fake`` serves ``fake.app()`` on a real port and sets ``fake.url``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web


class Refusal(Exception):
    """What the real service answers instead of serving the request (bad credentials, a malformed body, a
    scripted failure): raised by a fake's checks, so that its handlers read as the answer to a good request."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


@web.middleware
async def _answer_refusals(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refusal as refusal:
        return refusal.response


@dataclass(kw_only=True)
class FakeServer:
    """A fake upstream: ``routes()`` says what it serves; it records the bodies, paths and headers it gets."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    failures: list[Any] = field(default_factory=list)  # scripted failures, in the order the next requests get them
    url: str = ""
    # Whether ``paths`` keep the query (where the query says something the tests check, e.g. an api-version).
    query_in_paths: ClassVar[bool] = False

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_answer_refusals])
        app.add_routes(self.routes())
        return app

    def fail_next(self, *failure: Any) -> None:
        """Refuse the next request with ``failure``: the fields of the provider's error answer, in the order its
        fake's error function takes them (a fake whose errors say more defines its own ``fail_next``)."""
        self.failures.append(failure)

    def record(self, request: web.Request) -> None:
        """Note where a request went and the headers it carried."""
        self.paths.append(request.path_qs if self.query_in_paths else request.path)
        self.headers.append(dict(request.headers))
