"""server metadata, resize awaiting confirmation, token expiry

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 15:00:00.000000

Servers get their metadata (existing ones: {}) and the flavor a resize awaiting confirmation
came from (none waits); tokens an expiry (existing ones: none, they are long-lived) and the
token a short-lived one was issued from; ports whether they were made on their own (existing
ones: no, they are deleted with their NIC as before).
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('servers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resize_from_flavor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('metadata', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_tokens_parent_id_tokens', 'tokens', ['parent_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_tokens_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('ports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preserve_on_delete', sa.Boolean(), nullable=False, server_default=sa.text('false')))


def downgrade():
    with op.batch_alter_table('ports', schema=None) as batch_op:
        batch_op.drop_column('preserve_on_delete')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_expires_at'))
        batch_op.drop_constraint('fk_tokens_parent_id_tokens', type_='foreignkey')
        batch_op.drop_column('parent_id')
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('servers', schema=None) as batch_op:
        batch_op.drop_column('metadata')
        batch_op.drop_column('resize_from_flavor_id')
