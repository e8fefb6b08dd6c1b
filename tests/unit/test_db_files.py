"""The SQLite database holds the clusters' credentials: only its owner may read it."""
from __future__ import annotations

import stat

from orchestrator import migrate


def test_a_new_sqlite_database_and_its_wal_are_readable_by_their_owner_only(tmp_path):
    path = tmp_path / "var" / "orchestrator.db"
    migrate.upgrade(f"sqlite:///{path}")
    for file in [path, *tmp_path.joinpath("var").glob("orchestrator.db-*")]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_an_existing_world_readable_database_is_made_private(tmp_path):
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    migrate.upgrade(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
