"""operations: a target network, beside the server (network operations)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00.000000

An operation is about a server (server_id) or about a network on one backend (network_id
and backend_id: network_create, network_remove). The one-in-flight-per-server index stays;
a new partial unique index keeps one operation in flight per (network, backend). Rows from
before are all server operations: network_id NULL.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

IN_FLIGHT = "status IN ('PENDING', 'RUNNING')"


def upgrade() -> None:
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_operations_network_id_networks', 'networks', ['network_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_operations_network_id'), ['network_id'], unique=False)
        batch_op.create_index('uq_operations_in_flight_per_network_backend', ['network_id', 'backend_id'],
                              unique=True, sqlite_where=sa.text(f"network_id IS NOT NULL AND {IN_FLIGHT}"),
                              postgresql_where=sa.text(f"network_id IS NOT NULL AND {IN_FLIGHT}"))


def downgrade() -> None:
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_index('uq_operations_in_flight_per_network_backend')
        batch_op.drop_index(batch_op.f('ix_operations_network_id'))
        batch_op.drop_constraint('fk_operations_network_id_networks', type_='foreignkey')
        batch_op.drop_column('network_id')
