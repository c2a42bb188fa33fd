"""happy calls: the outbox of status calls to customers; indexes for the
analyzer's 2nd-level reports

Revision ID: d4c1a9e7f220
Revises: d8c41f2a9e6b
Create Date: 2026-11-25 23:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd4c1a9e7f220'
down_revision = 'd8c41f2a9e6b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('happy_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_outcome', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name='fk_happy_calls_ticket_id'),
    sa.ForeignKeyConstraint(['by_user_id'], ['users.id'], name='fk_happy_calls_by_user_id'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('happy_calls', schema=None) as batch_op:
        batch_op.create_index('ix_happy_calls_state_due', ['state', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_happy_calls_ticket_id'), ['ticket_id'], unique=False)
    op.create_index('ix_ticket_assignments_report', 'ticket_assignments',
                    ['at', 'to_group_id', 'to_user_id', 'automatic', 'ticket_id'])
    op.create_index('ix_tickets_level_created', 'tickets', ['level', 'created_at', 'group_id', 'resolved_at'])


def downgrade() -> None:
    op.drop_index('ix_tickets_level_created', table_name='tickets')
    op.drop_index('ix_ticket_assignments_report', table_name='ticket_assignments')
    with op.batch_alter_table('happy_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_happy_calls_ticket_id'))
        batch_op.drop_index('ix_happy_calls_state_due')
    op.drop_table('happy_calls')
