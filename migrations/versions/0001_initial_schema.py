"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 23:43:08.434235
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clustername', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=5), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('password', sa.String(length=255), nullable=False),
    sa.Column('verify_tls', sa.Boolean(), nullable=False),
    sa.Column('drained', sa.Boolean(), nullable=False),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('offline_reason', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('disk_templates', sa.JSON(), nullable=False),
    sa.Column('cluster_disk_templates', sa.JSON(), nullable=False),
    sa.Column('mtotal', sa.BigInteger(), nullable=False),
    sa.Column('mfree', sa.BigInteger(), nullable=False),
    sa.Column('dtotal', sa.BigInteger(), nullable=False),
    sa.Column('dfree', sa.BigInteger(), nullable=False),
    sa.Column('ctotal', sa.Integer(), nullable=False),
    sa.Column('pinst_cnt', sa.Integer(), nullable=False),
    sa.Column('stats_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('clustername')
    )
    op.create_table('flavors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('cpu', sa.Integer(), nullable=False),
    sa.Column('ram', sa.Integer(), nullable=False),
    sa.Column('disk', sa.Integer(), nullable=False),
    sa.Column('disk_template', sa.String(length=32), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('location', sa.String(length=1024), nullable=False),
    sa.Column('os', sa.String(length=64), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('reconciliation_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('fixes', sa.JSON(), nullable=False),
    sa.Column('backends_checked', sa.JSON(), nullable=False),
    sa.Column('backends_skipped', sa.JSON(), nullable=False),
    sa.Column('servers_checked', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('admin', sa.Boolean(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('reconciliation_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('backend_id', sa.Integer(), nullable=True),
    sa.Column('server_id', sa.Integer(), nullable=True),
    sa.Column('instance', sa.String(length=255), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('fixed', sa.Boolean(), nullable=False),
    sa.Column('fix', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['backend_id'], ['backends.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reconciliation_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconciliation_findings_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reconciliation_findings_server_id'), ['server_id'], unique=False)

    op.create_table('servers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('flavor_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('backend_id', sa.Integer(), nullable=True),
    sa.Column('operstate', sa.String(length=16), nullable=False),
    sa.Column('backend_job_id', sa.BigInteger(), nullable=True),
    sa.Column('backend_job_status', sa.String(length=16), nullable=True),
    sa.Column('backend_opcode', sa.String(length=64), nullable=True),
    sa.Column('backend_log_msg', sa.Text(), nullable=True),
    sa.Column('backend_time', sa.Float(), nullable=True),
    sa.Column('build_percentage', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=16), nullable=True),
    sa.Column('nics', sa.JSON(), nullable=False),
    sa.Column('nics_time', sa.Float(), nullable=True),
    sa.Column('suspended', sa.Boolean(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('last_reconciled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['backend_id'], ['backends.id'], ),
    sa.ForeignKeyConstraint(['flavor_id'], ['flavors.id'], ),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('servers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_servers_backend_id'), ['backend_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_servers_operstate'), ['operstate'], unique=False)
        batch_op.create_index(batch_op.f('ix_servers_user_id'), ['user_id'], unique=False)

    op.create_table('operations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('backend_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('job_status', sa.String(length=16), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('submit_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('redrives', sa.Integer(), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['backend_id'], ['backends.id'], ),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operations_server_id'), ['server_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_operations_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_operations_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_operations_in_flight_per_server', ['server_id'], unique=True, sqlite_where=sa.text("status IN ('PENDING', 'RUNNING')"), postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"))



def downgrade() -> None:
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_index('uq_operations_in_flight_per_server', sqlite_where=sa.text("status IN ('PENDING', 'RUNNING')"), postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"))
        batch_op.drop_index(batch_op.f('ix_operations_user_id'))
        batch_op.drop_index(batch_op.f('ix_operations_status'))
        batch_op.drop_index(batch_op.f('ix_operations_server_id'))

    op.drop_table('operations')
    with op.batch_alter_table('servers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_servers_user_id'))
        batch_op.drop_index(batch_op.f('ix_servers_operstate'))
        batch_op.drop_index(batch_op.f('ix_servers_backend_id'))

    op.drop_table('servers')
    with op.batch_alter_table('reconciliation_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconciliation_findings_server_id'))
        batch_op.drop_index(batch_op.f('ix_reconciliation_findings_run_id'))

    op.drop_table('reconciliation_findings')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_user_id'))

    op.drop_table('tokens')
    op.drop_table('reconciliation_runs')
    op.drop_table('images')
    op.drop_table('flavors')
    op.drop_table('backends')
