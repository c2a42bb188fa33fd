"""analyzer: indexes for the reports (covering indexes on tickets and calls by
date, the same customer's next ticket, ticket events by kind, survey ratings)

Revision ID: a5e1c0f3b7d2
Revises: b6730107faad
Create Date: 2026-11-25 22:40:00
"""
from alembic import op


revision = 'a5e1c0f3b7d2'
down_revision = 'b6730107faad'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_tickets_report', 'tickets', ['created_at', 'queue_id', 'agent_id', 'channel', 'resolved_at', 'customer_id']),
    ('ix_tickets_customer_created', 'tickets', ['customer_id', 'created_at']),
    ('ix_ticket_events_ticket_kind', 'ticket_events', ['ticket_id', 'kind', 'user_id']),
    ('ix_call_records_report', 'call_records',
     ['queued_at', 'queue_id', 'agent_id', 'answered_at', 'ended_at', 'outcome']),
    ('ix_surveys_ticket_rating', 'surveys', ['ticket_id', 'rating']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
