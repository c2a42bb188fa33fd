"""analyzer: summary columns (tickets.first_contact, handling_s; call_records.wait_s,
talk_s; surveys.asked_on, replied_on) kept at every flush by db/ticket_summary.py,
filled here for the existing rows; the report indexes carry them instead of
customer_id / ended_at; ix_surveys_ticket_rating widened into ix_surveys_report

Revision ID: f3a8c61d2b94
Revises: f6a2b8c4d0e1
Create Date: 2026-11-26 01:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'f3a8c61d2b94'
down_revision = 'f6a2b8c4d0e1'
branch_labels = None
depends_on = None

OLD_INDEXES = (
    ('ix_tickets_report', 'tickets', ['created_at', 'queue_id', 'agent_id', 'channel', 'resolved_at', 'customer_id']),
    ('ix_call_records_report', 'call_records',
     ['queued_at', 'queue_id', 'agent_id', 'answered_at', 'ended_at', 'outcome']),
    ('ix_surveys_ticket_rating', 'surveys', ['ticket_id', 'rating']),
)
NEW_INDEXES = (
    ('ix_tickets_report', 'tickets',
     ['created_at', 'queue_id', 'agent_id', 'channel', 'resolved_at', 'first_contact', 'handling_s']),
    ('ix_call_records_report', 'call_records',
     ['queued_at', 'queue_id', 'agent_id', 'answered_at', 'outcome', 'wait_s', 'talk_s']),
    ('ix_surveys_report', 'surveys',
     ['ticket_id', 'rating', 'asked_on', 'replied_on', 'outcome', 'reply_term', 'trouble_again', 'staff_kind']),
)


def upgrade() -> None:
    op.add_column('tickets', sa.Column('first_contact', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('tickets', sa.Column('handling_s', sa.Integer(), nullable=True))
    op.add_column('call_records', sa.Column('wait_s', sa.Integer(), nullable=True))
    op.add_column('call_records', sa.Column('talk_s', sa.Integer(), nullable=True))
    op.add_column('surveys', sa.Column('asked_on', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('surveys', sa.Column('replied_on', sa.Integer(), nullable=False, server_default='0'))
    for name, table, _ in OLD_INDEXES:
        op.drop_index(name, table_name=table)
    # The existing rows, from the same definitions the flush hook applies to new ones
    # (the columns are a cache of them: the current definition is the right one).
    from db.ticket_summary import refresh_all
    refresh_all(op.get_bind())
    for name, table, columns in NEW_INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in NEW_INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('surveys') as batch_op:
        batch_op.drop_column('replied_on')
        batch_op.drop_column('asked_on')
    with op.batch_alter_table('call_records') as batch_op:
        batch_op.drop_column('talk_s')
        batch_op.drop_column('wait_s')
    with op.batch_alter_table('tickets') as batch_op:
        batch_op.drop_column('handling_s')
        batch_op.drop_column('first_contact')
    for name, table, columns in OLD_INDEXES:
        op.create_index(name, table, columns)
