"""sms: every text message in and out (sms_messages), duplicates linked to the
first of them

Revision ID: d8c41f2a9e6b
Revises: d81f4c2a9e60
Create Date: 2026-11-25 23:30:00
"""
import sqlalchemy as sa
from alembic import op


revision = 'd8c41f2a9e6b'
down_revision = 'd81f4c2a9e60'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sms_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('sender', sa.String(length=64), nullable=False),
        sa.Column('gateway', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reference', sa.String(length=128), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['duplicate_of_id'], ['sms_messages.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sms_messages_lookup', 'sms_messages', ['direction', 'number', 'at'])


def downgrade() -> None:
    op.drop_index('ix_sms_messages_lookup', table_name='sms_messages')
    op.drop_table('sms_messages')
