"""A local spool: events are written here first and leave only once the broker took them.

SQLite (stdlib) in a file beside the agent: it survives restarts and keeps order.
This is the agent's own small file, never the orchestrator's database.

Several processes may share one spool file (every run of the hook and of the progress
command, and the watcher that sweeps what they could not send): a sender first takes a
short lease on the oldest events (one, or a batch of them), sends them, then deletes
them; a failed send gives the leases back. So an event leaves once in normal operation,
and only a sender killed between the broker's acceptance and the delete can send it a
second time (the event tasks treat that duplicate as harmless).
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Seconds a sender holds the oldest event while it sends it; longer than any send.
LEASE_S = 60.0


class Spool:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "kind TEXT NOT NULL, body TEXT NOT NULL, lease_until REAL NOT NULL DEFAULT 0)")
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(events)")}
        if "lease_until" not in columns:  # a spool written by an older agent
            self.db.execute("ALTER TABLE events ADD COLUMN lease_until REAL NOT NULL DEFAULT 0")
        self.db.execute("CREATE TABLE IF NOT EXISTS opstate (job_id INTEGER, idx INTEGER, status TEXT, "
                        "PRIMARY KEY (job_id, idx))")
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- outgoing events -------------------------------------------------
    def put(self, kind: str, event: dict[str, Any], opstate: tuple[int, int, str] | None = None) -> None:
        """Queue an event and, in the same transaction, remember the opcode status it reports."""
        self.put_many([(kind, event, opstate)])

    def put_many(self, items: list[tuple[str, dict[str, Any], tuple[int, int, str] | None]]) -> None:
        """Queue several events atomically, in order (one scan of the job queue)."""
        if not items:
            return
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for kind, event, opstate in items:
                    self.db.execute("INSERT INTO events (kind, body) VALUES (?, ?)", (kind, json.dumps(event)))
                    if opstate is not None:
                        self.db.execute("INSERT OR REPLACE INTO opstate VALUES (?, ?, ?)", opstate)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def pending(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def _claim(self, limit: int = 1) -> list[tuple[int, str, str]]:
        """Lease the oldest `limit` events no other sender holds."""
        now = time.time()
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                rows = self.db.execute("SELECT id, kind, body FROM events WHERE lease_until < ? ORDER BY id LIMIT ?",
                                       (now, limit)).fetchall()
                self.db.executemany("UPDATE events SET lease_until = ? WHERE id = ?",
                                    [(now + LEASE_S, row[0]) for row in rows])
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return rows

    def drain(self, send: Callable[[str, dict[str, Any]], None],
              keep_going: Callable[[], bool] = lambda: True) -> int:
        """Send queued events one by one, oldest first; stop at the first failure (which is
        raised: the broker is down) or when `keep_going` says so. Returns how many were sent."""
        return self.drain_batches(lambda batch: send(*batch[0]), keep_going, size=1)

    def drain_batches(self, send: Callable[[list[tuple[str, dict[str, Any]]]], None],
                      keep_going: Callable[[], bool] = lambda: True, size: int = 50) -> int:
        """Send queued events oldest first, up to `size` at a time in one message, as many as
        are waiting (a quiet cluster's event leaves alone, at once; a burst leaves in batches,
        one broker message and one task each instead of one per event). Stops at the first
        failure (raised; the batch's leases are given back) or when `keep_going` says so.
        Returns how many events were sent."""
        sent = 0
        while keep_going():
            rows = self._claim(max(1, size))
            if not rows:
                return sent
            ids = [(row[0],) for row in rows]
            try:
                send([(row[1], json.loads(row[2])) for row in rows])
            except BaseException:
                with self.lock:
                    self.db.executemany("UPDATE events SET lease_until = 0 WHERE id = ?", ids)
                raise
            with self.lock:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("DELETE FROM events WHERE id = ?", ids)
                self.db.execute("COMMIT")
            sent += len(rows)
        return sent

    # -- what was already reported ----------------------------------------
    def opstates(self) -> dict[tuple[int, int], str]:
        with self.lock:
            return {(j, i): s for j, i, s in self.db.execute("SELECT job_id, idx, status FROM opstate")}

    def forget_jobs(self, job_ids: set[int]) -> None:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM opstate WHERE job_id = ?", [(j,) for j in job_ids])
            self.db.execute("COMMIT")
