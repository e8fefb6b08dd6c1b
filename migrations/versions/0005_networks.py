"""networks: networks, their backends' copies, subnets, pools, ports and addresses

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000

New tables only (docs/networks.md). The partial unique indexes hold live rows (NOT deleted):
one address of a subnet per live holder, one MAC per live port, one live network per value
drawn from a pool, one live subnet of each IP version per network, one live bridge pool and
one live MAC-prefix pool. No rows are written: `orchestrator demo seed` (or `pool create`)
makes the pools.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('base', sa.String(length=64), nullable=False),
    sa.Column('offset', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('available_map', sa.LargeBinary(), nullable=False),
    sa.Column('reserved_map', sa.LargeBinary(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.create_index('uq_pools_live_type', ['type'], unique=True, sqlite_where=sa.text("NOT deleted AND type <> 'ip'"), postgresql_where=sa.text("NOT deleted AND type <> 'ip'"))

    op.create_table('networks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('flavor', sa.String(length=32), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('link', sa.String(length=64), nullable=False),
    sa.Column('mac_prefix', sa.String(length=32), nullable=False),
    sa.Column('link_pool_id', sa.Integer(), nullable=True),
    sa.Column('mac_prefix_pool_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['link_pool_id'], ['pools.id'], ),
    sa.ForeignKeyConstraint(['mac_prefix_pool_id'], ['pools.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_networks_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_networks_live_pooled_link', ['link'], unique=True, sqlite_where=sa.text('NOT deleted AND link_pool_id IS NOT NULL'), postgresql_where=sa.text('NOT deleted AND link_pool_id IS NOT NULL'))
        batch_op.create_index('uq_networks_live_pooled_mac_prefix', ['mac_prefix'], unique=True, sqlite_where=sa.text('NOT deleted AND mac_prefix_pool_id IS NOT NULL'), postgresql_where=sa.text('NOT deleted AND mac_prefix_pool_id IS NOT NULL'))

    op.create_table('backend_networks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('backend_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('job_status', sa.String(length=16), nullable=True),
    sa.Column('backend_time', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['backend_id'], ['backends.id'], ),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('network_id', 'backend_id', name='uq_backend_networks_network_backend')
    )
    with op.batch_alter_table('backend_networks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backend_networks_backend_id'), ['backend_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backend_networks_network_id'), ['network_id'], unique=False)

    op.create_table('ports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('index', sa.Integer(), nullable=True),
    sa.Column('mac', sa.String(length=17), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], ),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ports_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ports_server_id'), ['server_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ports_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_ports_live_mac', ['mac'], unique=True, sqlite_where=sa.text('NOT deleted'), postgresql_where=sa.text('NOT deleted'))
        batch_op.create_index('uq_ports_live_server_index', ['server_id', 'index'], unique=True, sqlite_where=sa.text('NOT deleted AND server_id IS NOT NULL'), postgresql_where=sa.text('NOT deleted AND server_id IS NOT NULL'))

    op.create_table('subnets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('ip_version', sa.Integer(), nullable=False),
    sa.Column('cidr', sa.String(length=64), nullable=False),
    sa.Column('gateway', sa.String(length=64), nullable=True),
    sa.Column('dhcp', sa.Boolean(), nullable=False),
    sa.Column('dns_nameservers', sa.JSON(), nullable=False),
    sa.Column('allocation_pools', sa.JSON(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('pool_id', sa.Integer(), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], ),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pool_id')
    )
    with op.batch_alter_table('subnets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subnets_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subnets_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_subnets_live_network_version', ['network_id', 'ip_version'], unique=True, sqlite_where=sa.text('NOT deleted'), postgresql_where=sa.text('NOT deleted'))

    op.create_table('ip_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subnet_id', sa.Integer(), nullable=False),
    sa.Column('port_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('ip_version', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['port_id'], ['ports.id'], ),
    sa.ForeignKeyConstraint(['subnet_id'], ['subnets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ip_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ip_addresses_port_id'), ['port_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ip_addresses_subnet_id'), ['subnet_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ip_addresses_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_ip_addresses_live_subnet_address', ['subnet_id', 'address'], unique=True, sqlite_where=sa.text('NOT deleted'), postgresql_where=sa.text('NOT deleted'))


def downgrade() -> None:
    with op.batch_alter_table('ip_addresses', schema=None) as batch_op:
        batch_op.drop_index('uq_ip_addresses_live_subnet_address', sqlite_where=sa.text('NOT deleted'), postgresql_where=sa.text('NOT deleted'))
        batch_op.drop_index(batch_op.f('ix_ip_addresses_user_id'))
        batch_op.drop_index(batch_op.f('ix_ip_addresses_subnet_id'))
        batch_op.drop_index(batch_op.f('ix_ip_addresses_port_id'))

    op.drop_table('ip_addresses')
    with op.batch_alter_table('subnets', schema=None) as batch_op:
        batch_op.drop_index('uq_subnets_live_network_version', sqlite_where=sa.text('NOT deleted'), postgresql_where=sa.text('NOT deleted'))
        batch_op.drop_index(batch_op.f('ix_subnets_user_id'))
        batch_op.drop_index(batch_op.f('ix_subnets_network_id'))

    op.drop_table('subnets')
    with op.batch_alter_table('ports', schema=None) as batch_op:
        batch_op.drop_index('uq_ports_live_server_index', sqlite_where=sa.text('NOT deleted AND server_id IS NOT NULL'), postgresql_where=sa.text('NOT deleted AND server_id IS NOT NULL'))
        batch_op.drop_index('uq_ports_live_mac', sqlite_where=sa.text('NOT deleted'), postgresql_where=sa.text('NOT deleted'))
        batch_op.drop_index(batch_op.f('ix_ports_user_id'))
        batch_op.drop_index(batch_op.f('ix_ports_server_id'))
        batch_op.drop_index(batch_op.f('ix_ports_network_id'))

    op.drop_table('ports')
    with op.batch_alter_table('backend_networks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backend_networks_network_id'))
        batch_op.drop_index(batch_op.f('ix_backend_networks_backend_id'))

    op.drop_table('backend_networks')
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.drop_index('uq_networks_live_pooled_mac_prefix', sqlite_where=sa.text('NOT deleted AND mac_prefix_pool_id IS NOT NULL'), postgresql_where=sa.text('NOT deleted AND mac_prefix_pool_id IS NOT NULL'))
        batch_op.drop_index('uq_networks_live_pooled_link', sqlite_where=sa.text('NOT deleted AND link_pool_id IS NOT NULL'), postgresql_where=sa.text('NOT deleted AND link_pool_id IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_networks_user_id'))

    op.drop_table('networks')
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_index('uq_pools_live_type', sqlite_where=sa.text("NOT deleted AND type <> 'ip'"), postgresql_where=sa.text("NOT deleted AND type <> 'ip'"))

    op.drop_table('pools')
