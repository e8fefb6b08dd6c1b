"""per-minute rollup of finished operations by kind and outcome, and queue-length samples, for the console's charts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:00:00.000000

Also: backends.drained_reason (an operator's reason for a drain), and an
index on operations (finished_at, status, kind): the rollup counts the operations that ended
in a window from the index alone.
Nothing is backfilled: the first fold counts the console's window (the last hours) from the
operations themselves.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'operation_minutes',
        sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('minute', 'kind', 'outcome'),
    )
    op.create_table(
        'rollup_marks',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'queue_samples',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('length', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('queue_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_samples_at'), ['at'], unique=False)
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drained_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.create_index('ix_operations_finished_at', ['finished_at', 'status', 'kind'], unique=False)


def downgrade():
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_index('ix_operations_finished_at')
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.drop_column('drained_reason')
    with op.batch_alter_table('queue_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_samples_at'))
    op.drop_table('queue_samples')
    op.drop_table('rollup_marks')
    op.drop_table('operation_minutes')
