"""backends: RAPI passwords sealed at rest (Fernet tokens, in a Text column)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:00:00.000000

The keys are the settings' (orchestrator.credentials): those of `config.attributes
["settings"]` when the caller gives them, else this process's environment's, as env.py
reads the URL; with neither CREDENTIALS_KEYS nor a key file, the key file is made. Run it
with the environment the orchestrator's processes have. Values already sealed are left
alone, so a second run changes nothing; the downgrade opens them back (online only). Offline
(`--sql`), the upgrade renders the column change alone: `orchestrator backend rotate-credentials`
seals the rows then.

On SQLite, secure_delete (on by default in Debian's build, not in every one) zeroes what the
table's copy and the rewrites free, so the clear values do not linger in the file; PostgreSQL
keeps the old row versions until `VACUUM FULL backends` (docs/credentials.md).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _credentials():
    from orchestrator.credentials import Credentials
    from orchestrator.settings import Settings

    settings = op.get_context().config.attributes.get("settings") or Settings.from_env()
    return Credentials.from_settings(settings)


def _scrub_freed_pages(bind) -> None:
    if bind.dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete = ON")


def _rewrite(bind, convert, which) -> None:
    """Each password `which` selects, rewritten as `convert(password, backend label)`; the
    keys are read only when there is one to rewrite."""
    if op.get_context().as_sql:
        return  # offline: no rows to read
    rows = [row for row in bind.execute(sa.text("SELECT id, clustername, password FROM backends ORDER BY id"))
            if which(row.password)]
    if not rows:
        return
    credentials = _credentials()
    for row in rows:
        value = convert(credentials, row.password, f"backend {row.id} ({row.clustername})")
        bind.execute(sa.text("UPDATE backends SET password = :password WHERE id = :id"),
                     {"password": value, "id": row.id})


def upgrade() -> None:
    from orchestrator.credentials import is_sealed

    bind = op.get_bind()
    _scrub_freed_pages(bind)
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.alter_column('password', existing_type=sa.String(length=255), type_=sa.Text(),
                              existing_nullable=False)
    _rewrite(bind, lambda credentials, password, what: credentials.seal(password), lambda p: not is_sealed(p))


def downgrade() -> None:
    from orchestrator.credentials import is_sealed

    if op.get_context().as_sql:
        raise RuntimeError("0004's downgrade opens the sealed passwords, which SQL alone cannot: run it online")
    bind = op.get_bind()
    _scrub_freed_pages(bind)
    _rewrite(bind, lambda credentials, token, what: credentials.unseal(token, what), is_sealed)
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.alter_column('password', existing_type=sa.Text(), type_=sa.String(length=255),
                              existing_nullable=False)
