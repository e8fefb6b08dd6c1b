"""quotas: holdings per user and resource, the changes not folded into them yet, and the
commissions operations reserved

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00.000000

Existing users' holdings are counted from their rows (orchestrator.quotas.recount has the
same rules): every server not destroyed holds one VM, its flavor's CPUs, RAM (MiB) and disk
(GiB), and its CPUs and RAM as started ones unless it is STOPPED; every live private network
and floating IP one of each. Limits are left NULL: the deployment's QUOTA_DEFAULTS.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_LIVE_SERVERS = ("FROM servers s JOIN flavors f ON f.id = s.flavor_id "
                 "WHERE NOT s.deleted AND s.operstate <> 'DESTROYED'")
_STARTED = " AND s.operstate <> 'STOPPED'"
_BY_SERVER = "SELECT s.user_id AS user_id, {amount} AS amount " + _LIVE_SERVERS + "{where} GROUP BY s.user_id"
BACKFILL = {
    "cyclades.vm": _BY_SERVER.format(amount="COUNT(*)", where=""),
    "cyclades.total_cpu": _BY_SERVER.format(amount="SUM(f.cpu)", where=""),
    "cyclades.cpu": _BY_SERVER.format(amount="SUM(f.cpu)", where=_STARTED),
    "cyclades.total_ram": _BY_SERVER.format(amount="SUM(f.ram)", where=""),
    "cyclades.ram": _BY_SERVER.format(amount="SUM(f.ram)", where=_STARTED),
    "cyclades.disk": _BY_SERVER.format(amount="SUM(f.disk)", where=""),
    "cyclades.network.private": ("SELECT user_id AS user_id, COUNT(*) AS amount FROM networks "
                                 "WHERE NOT deleted AND NOT public AND user_id IS NOT NULL GROUP BY user_id"),
    "cyclades.floating_ip": ("SELECT user_id AS user_id, COUNT(*) AS amount FROM ip_addresses "
                             "WHERE NOT deleted AND floating_ip GROUP BY user_id"),
}


def upgrade() -> None:
    op.create_table(
        'quota_holdings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('resource', sa.String(length=64), nullable=False),
        sa.Column('limit', sa.BigInteger(), nullable=True),
        sa.Column('usage', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('pending', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'resource', name='uq_quota_holdings_user_resource'),
    )
    with op.batch_alter_table('quota_holdings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quota_holdings_user_id'), ['user_id'], unique=False)
    op.create_table(
        'quota_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('resource', sa.String(length=64), nullable=False),
        sa.Column('usage', sa.BigInteger(), nullable=False),
        sa.Column('pending', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('quota_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quota_changes_user_id'), ['user_id'], unique=False)
    op.create_table(
        'quota_commissions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('operation_id', sa.Integer(), nullable=True),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('reserved', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['operation_id'], ['operations.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('quota_commissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quota_commissions_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quota_commissions_operation_id'), ['operation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quota_commissions_state'), ['state'], unique=False)
        batch_op.create_index('uq_quota_commissions_pending_operation', ['operation_id'], unique=True,
                              sqlite_where=sa.text("state = 'PENDING'"),
                              postgresql_where=sa.text("state = 'PENDING'"))
    for resource, query in BACKFILL.items():
        op.execute(sa.text("INSERT INTO quota_holdings (user_id, resource, usage, pending, updated_at) "
                           f"SELECT q.user_id, :resource, q.amount, 0, CURRENT_TIMESTAMP FROM ({query}) q")
                   .bindparams(resource=resource))


def downgrade() -> None:
    op.drop_table('quota_commissions')
    op.drop_table('quota_changes')
    op.drop_table('quota_holdings')
