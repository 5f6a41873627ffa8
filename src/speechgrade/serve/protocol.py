"""uvicorn's HTTP/1.1 protocol with two bounds it lacks: the time a connection may take to send a request's
headers, and how many connections may wait for their headers at once.

A connection that sends nothing, or trickles its headers, is closed `header_timeout_s` after it opened (or after
its previous response); when more than `max_waiting` connections wait for headers, the oldest is closed. So idle
or slow clients hold only a socket for a bounded time and never take a request slot: the limit on requests in
progress (`BodyGuard`) counts requests, not connections.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    """H11Protocol that closes connections whose request headers do not arrive in time; `bounded()` makes the
    class uvicorn is given, with the server's bounds (uvicorn builds protocols itself, from a class)."""

    header_timeout_s: ClassVar[float] = 10.0
    max_waiting: ClassVar[int] = 512
    _waiting: ClassVar["OrderedDict[GuardedH11Protocol, None]"] = OrderedDict()  # per process, oldest first

    @classmethod
    def bounded(cls, header_timeout_s: float, max_waiting: int) -> type["GuardedH11Protocol"]:
        """A subclass with these bounds and its own table of connections waiting for headers."""
        return type(cls.__name__, (cls,), {"header_timeout_s": float(header_timeout_s),
                                           "max_waiting": int(max_waiting), "_waiting": OrderedDict()})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._header_timer = None

    def _arm(self) -> None:
        """Start the clock for the next request's headers."""
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)
        waiting = type(self)._waiting
        waiting[self] = None
        while len(waiting) > self.max_waiting:
            oldest = next(iter(waiting))
            oldest._headers_too_slow()

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        type(self)._waiting.pop(self, None)

    def _headers_too_slow(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:  # the headers arrived: a request runs
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the next request on this keep-alive connection gets the same bound
