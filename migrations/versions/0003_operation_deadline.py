"""operations: the instant the current attempt is past its deadline

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000

Rows from before have none: an operation in flight across the upgrade gets its deadline
from the first step that runs it after the upgrade (orchestrator.deadlines).
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_column('deadline_at')
