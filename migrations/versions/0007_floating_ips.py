"""floating IPs: networks that are floating-IP pools (and drained), addresses owned as floating
IPs, and the log of which server held a public address when

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:00:00.000000

Existing networks are neither pools nor drained, existing addresses are ports' (not floating).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('floating_ip_pool', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('drained', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('ip_addresses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('floating_ip', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'ip_address_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('ip_address_id', sa.Integer(), nullable=False),
        sa.Column('network_id', sa.Integer(), nullable=False),
        sa.Column('server_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('allocated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['ip_address_id'], ['ip_addresses.id']),
        sa.ForeignKeyConstraint(['network_id'], ['networks.id']),
        sa.ForeignKeyConstraint(['server_id'], ['servers.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('ip_address_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ip_address_log_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_ip_address_log_ip_address_id'), ['ip_address_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ip_address_log_server_id'), ['server_id'], unique=False)


def downgrade() -> None:
    op.drop_table('ip_address_log')
    with op.batch_alter_table('ip_addresses', schema=None) as batch_op:
        batch_op.drop_column('floating_ip')
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.drop_column('drained')
        batch_op.drop_column('floating_ip_pool')
