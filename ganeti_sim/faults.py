"""Fault injection for one cluster: the knobs every chaos drill turns.

Settable from Python (`cluster.faults.fail_next_jobs = 2`) and over HTTP at
/sim/faults; all fields are plain values so reads need no lock.
"""
from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field

DEFAULT_FAIL_MESSAGE = "Simulated failure injected by ganeti_sim"


@dataclass
class Faults:
    fail_next_jobs: int = 0  # the next N submitted jobs fail (OpExecError) after running
    message: str = DEFAULT_FAIL_MESSAGE
    op_failure_rate: dict = field(default_factory=dict)  # OP_ID or "*" -> probability of failing
    http_error_rate: float = 0.0  # fraction of RAPI requests answered with http_error_code
    http_error_code: int = 502
    latency: float = 0.0  # seconds added to every RAPI request
    drop_rate: float = 0.0  # fraction of requests whose connection is closed without an answer
    op_delay: float = 0.0  # seconds added to each opcode's run time
    seed: int | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    def take_forced_failure(self) -> str | None:
        """Called once per submitted job: consume one forced failure if any are pending."""
        with self._lock:
            if self.fail_next_jobs > 0:
                self.fail_next_jobs -= 1
                return self.message or DEFAULT_FAIL_MESSAGE
        return None

    def random_op_failure(self, op_id: str) -> str | None:
        rate = self.op_failure_rate.get(op_id, self.op_failure_rate.get("*", 0.0))
        if rate and self._rng.random() < rate:
            return self.message or DEFAULT_FAIL_MESSAGE
        return None

    def op_extra_delay(self) -> float:
        return self.op_delay

    def http_error(self) -> int | None:
        if self.http_error_rate and self._rng.random() < self.http_error_rate:
            return self.http_error_code
        return None

    def drop(self) -> bool:
        return bool(self.drop_rate) and self._rng.random() < self.drop_rate

    SETTABLE = ("fail_next_jobs", "message", "op_failure_rate", "http_error_rate", "http_error_code",
                "latency", "drop_rate", "op_delay")

    def update(self, values: dict) -> None:
        unknown = set(values) - set(self.SETTABLE)
        if unknown:
            raise ValueError("unknown fault field(s): %s" % ", ".join(sorted(unknown)))
        for key, value in values.items():
            setattr(self, key, value)

    def reset(self) -> None:
        for key, value in asdict(Faults()).items():
            if key != "seed":
                setattr(self, key, value)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.SETTABLE}
