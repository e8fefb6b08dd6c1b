"""per-backend RAPI request budget (requests per second, concurrent requests)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:00:00.000000

Both NULL on every backend: the deployment's RAPI_RATE_PER_S and RAPI_CONCURRENCY
(orchestrator.rapi.budget) until an operator sets one (0: no limit).
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_per_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('concurrency', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.drop_column('concurrency')
        batch_op.drop_column('rate_per_s')
