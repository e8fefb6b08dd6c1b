"""operations: the attempt (generation) its jobs' reason carries, and the submit lease

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 08:00:00.000000

Rows from before are generation 0: their jobs carry the first reason format
(`orchestrator:op:<id>`), which generation 0 keeps, so operations in flight across the
upgrade still find their own jobs on replay.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submit_lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('generation', sa.Integer(), server_default=sa.text('0'), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_column('generation')
        batch_op.drop_column('submit_lease_until')
