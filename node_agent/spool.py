"""A local spool: events are written here first and leave only once the broker took them.

SQLite (stdlib) in a file beside the agent: it survives restarts and keeps order.
This is the agent's own small file, never the orchestrator's database.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Spool:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "kind TEXT NOT NULL, body TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS opstate (job_id INTEGER, idx INTEGER, status TEXT, "
                        "PRIMARY KEY (job_id, idx))")
        self.lock = threading.Lock()

    # -- outgoing events -------------------------------------------------
    def put(self, kind: str, event: dict[str, Any], opstate: tuple[int, int, str] | None = None) -> None:
        """Queue an event and, in the same transaction, remember the opcode status it reports."""
        with self.lock:
            self.db.execute("BEGIN")
            self.db.execute("INSERT INTO events (kind, body) VALUES (?, ?)", (kind, json.dumps(event)))
            if opstate is not None:
                self.db.execute("INSERT OR REPLACE INTO opstate VALUES (?, ?, ?)", opstate)
            self.db.execute("COMMIT")

    def pending(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def drain(self, send: Callable[[str, dict[str, Any]], None]) -> int:
        """Send queued events in order; stop at the first failure (the broker is down)."""
        sent = 0
        while True:
            with self.lock:
                row = self.db.execute("SELECT id, kind, body FROM events ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return sent
            send(row[1], json.loads(row[2]))
            with self.lock:
                self.db.execute("DELETE FROM events WHERE id = ?", (row[0],))
            sent += 1

    # -- what was already reported ----------------------------------------
    def opstates(self) -> dict[tuple[int, int], str]:
        with self.lock:
            return {(j, i): s for j, i, s in self.db.execute("SELECT job_id, idx, status FROM opstate")}

    def forget_jobs(self, job_ids: set[int]) -> None:
        with self.lock:
            self.db.executemany("DELETE FROM opstate WHERE job_id = ?", [(j,) for j in job_ids])
