"""early warning: infrastructure alarms (webhook) with their hot line bridge

Revision ID: d4a7c2e91f03
Revises: d4c1a9e7f220
Create Date: 2026-11-25 23:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd4a7c2e91f03'
down_revision = 'd4c1a9e7f220'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alarms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('system', sa.String(length=100), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('contact_number', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('last_received_at', sa.DateTime(), nullable=False),
    sa.Column('repeat_count', sa.Integer(), nullable=False),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('hotline_bridge_id', sa.String(length=64), nullable=False),
    sa.Column('hotline_state', sa.String(length=16), nullable=False),
    sa.Column('voice_alert_calls', sa.Integer(), nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name='fk_alarms_ack_user'),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name='fk_alarms_close_user'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.create_index('ix_alarms_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_alarms_closed_at', ['closed_at'], unique=False)
        batch_op.create_index('ix_alarms_source_external', ['source', 'external_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_index('ix_alarms_source_external')
        batch_op.drop_index('ix_alarms_closed_at')
        batch_op.drop_index('ix_alarms_received_at')
    op.drop_table('alarms')
