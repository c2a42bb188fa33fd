"""hot paths: tickets by status (intake tickets waiting for a Ready agent), calls
answered since a time per agent (the fewest-calls strategy)

Revision ID: c4d1e2f3a4b5
Revises: a5e1c0f3b7d2
Create Date: 2026-11-25 23:30:00
"""
from alembic import op


revision = 'c4d1e2f3a4b5'
down_revision = 'a5e1c0f3b7d2'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_tickets_status_created', 'tickets', ['status', 'created_at']),
    ('ix_call_records_answered', 'call_records', ['answered_at', 'agent_id']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
