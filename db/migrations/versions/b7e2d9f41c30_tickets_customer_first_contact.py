"""hot path: a new ticket turns the customer's earlier tickets of the week that were
still "settled at first contact" false (db/ticket_summary.py); this index finds
just those instead of every ticket of the customer's week

Revision ID: b7e2d9f41c30
Revises: f3a8c61d2b94
Create Date: 2026-11-26 03:10:00
"""
from alembic import op


revision = 'b7e2d9f41c30'
down_revision = 'f3a8c61d2b94'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_customer_first_contact', 'tickets', ['customer_id', 'first_contact', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_tickets_customer_first_contact', table_name='tickets')
