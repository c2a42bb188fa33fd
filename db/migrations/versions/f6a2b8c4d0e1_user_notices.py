"""desktop notices kept until read (a survey's dissatisfied reply for the person in charge)

Revision ID: f6a2b8c4d0e1
Revises: e3b5a7c9d1f2
Create Date: 2026-11-26 02:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'f6a2b8c4d0e1'
down_revision = 'e3b5a7c9d1f2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'user_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('read_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_user_notices_user_id'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_user_notices_ticket_id'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_user_notices_user_read', 'user_notices', ['user_id', 'read_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_user_notices_user_read', table_name='user_notices')
    op.drop_table('user_notices')
