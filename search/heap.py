"""Give a worker's freed heap back to the system when it goes idle (glibc's malloc_trim).

A search frees most of what it allocates (numpy temporaries, snippets, JSON), but glibc keeps
freed memory in the process's heap for the next allocation: a 100k-document worker held ~8 MB
it no longer used after the benchmark's mix (bench/RESULTS.md). `malloc_trim(0)` hands it back,
in 0.5-0.9 ms: too slow for every request, so it runs after the response of the last request in
flight has been sent, at most once per `MIN_INTERVAL` seconds, and never while another request
of the same worker is running. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Callable

from werkzeug.wsgi import ClosingIterator

MIN_INTERVAL = 1.0  # seconds between two trims of one process


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


class IdleTrimmer:
    """Count the requests in flight; when the last one ends, trim the heap (at most once per interval)."""

    def __init__(self, trim: Callable[[int], int] | None = None, interval: float = MIN_INTERVAL):
        self._trim = trim if trim is not None else _malloc_trim()
        self._interval = interval
        self._lock = threading.Lock()
        self._running = 0
        self._last = float("-inf")
        self.trims = 0

    def started(self) -> None:
        with self._lock:
            self._running += 1

    def finished(self) -> None:
        with self._lock:
            self._running -= 1
            now = time.monotonic()
            due = self._running == 0 and self._trim is not None and now - self._last >= self._interval
            if due:
                self._last = now
        if due:
            self._trim(0)
            self.trims += 1

    def wrap(self, app):
        """Return WSGI `app` counting its requests, each until its response has been sent and closed."""

        def trimming(environ, start_response):
            self.started()
            try:
                body = app(environ, start_response)
            except BaseException:
                self.finished()
                raise
            return ClosingIterator(body, [self.finished])

        return trimming
