"""What one simulated cluster was asked: RAPI requests per second and the most in flight.

Not part of Ganeti: the drills and benches read it (GET /sim/meter) to see, from the
cluster's side, that the orchestrator keeps within a cluster's request budget. Seconds are
the wall clock's whole seconds (time.time()), as a cluster's own request log counts them;
the /sim admin requests are not counted.
"""
from __future__ import annotations

import threading
import time


class Meter:
    KEEP_S = 3600  # seconds remembered; older ones are dropped as new ones come

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.per_second: dict[int, int] = {}
            self.peak_per_second: dict[int, int] = {}  # the most in flight during each second
            self.total = 0
            self.in_flight = 0
            self.max_in_flight = 0

    def begin(self) -> None:
        second = int(time.time())
        with self._lock:
            if second not in self.per_second and len(self.per_second) >= self.KEEP_S:
                for old in sorted(self.per_second)[: len(self.per_second) - self.KEEP_S + 1]:
                    self.per_second.pop(old, None)
                    self.peak_per_second.pop(old, None)
            self.per_second[second] = self.per_second.get(second, 0) + 1
            self.total += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.peak_per_second[second] = max(self.peak_per_second.get(second, 0), self.in_flight)

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def as_dict(self) -> dict:
        with self._lock:
            seconds = sorted(self.per_second)
            return {
                "total": self.total,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "max_per_second": max(self.per_second.values(), default=0),
                # [second (Unix time), requests that arrived in it, the most in flight during it]
                "per_second": [[s, self.per_second[s], self.peak_per_second.get(s, 0)] for s in seconds],
            }
