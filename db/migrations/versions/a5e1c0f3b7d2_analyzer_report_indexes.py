"""analyzer: indexes for the reports (tickets by creation time and by customer,
ticket events by ticket and kind, calls by queue time)

Revision ID: a5e1c0f3b7d2
Revises: 3058e555778f
Create Date: 2026-11-25 22:40:00
"""
from alembic import op


revision = 'a5e1c0f3b7d2'
down_revision = '3058e555778f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'])
    op.create_index('ix_tickets_customer_created', 'tickets', ['customer_id', 'created_at'])
    op.create_index('ix_ticket_events_ticket_kind', 'ticket_events', ['ticket_id', 'kind'])
    op.create_index('ix_call_records_queued_at', 'call_records', ['queued_at'])


def downgrade() -> None:
    op.drop_index('ix_call_records_queued_at', table_name='call_records')
    op.drop_index('ix_ticket_events_ticket_kind', table_name='ticket_events')
    op.drop_index('ix_tickets_customer_created', table_name='tickets')
    op.drop_index('ix_tickets_created_at', table_name='tickets')
