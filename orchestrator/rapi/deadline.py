"""A total deadline for each RAPI call.

A read timeout restarts with every byte, so a cluster (or anything posing as one) that
trickles its answer, one header line every few seconds, could hold a caller (an API thread,
a worker) for as long as it likes. Inside `within(seconds)`, every socket the calling thread
uses for the call is shut down when the deadline passes; the call then fails at once.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Watch:
    """The deadline of one call in one thread, and the sockets it guards."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self._lock = threading.Lock()  # a call that ended is never cut after it ended

    def guard(self, sock: socket.socket | None) -> None:
        """Shut `sock` down when the deadline passes (at once if it has)."""
        if sock is not None:
            _WATCHDOG.add(self, sock)

    def expire(self, sock: socket.socket) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self.done = True


class _Watchdog:
    """One daemon thread per process for every deadline: a heap of (deadline, socket)."""

    def __init__(self):
        self._heap: list[tuple[float, int, Watch, socket.socket]] = []
        self._count = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch, sock: socket.socket) -> None:
        with self._wake:
            heapq.heappush(self._heap, (watch.deadline, next(self._count), watch, sock))
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._thread = threading.Thread(target=self._run, name="rapi-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)  # that call ended in time
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                _, _, watch, sock = heapq.heappop(self._heap)
            watch.expire(sock)


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[Watch]:
    watch = Watch(seconds)
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None
        watch.finish()


def _guard(sock: socket.socket | None) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.guard(sock)


class _Guarded:
    """Connection mixin: a connection made or reused inside `within` is guarded."""

    def connect(self) -> None:
        super().connect()
        _guard(self.sock)

    def request(self, *args, **kwargs):
        _guard(self.sock)  # a pooled connection, reused (a new one is guarded on connect)
        return super().request(*args, **kwargs)


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """requests' adapter whose pools make guarded connections."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}
