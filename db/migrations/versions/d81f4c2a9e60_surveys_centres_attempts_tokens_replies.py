"""surveys (issue 6): service centres covering areas, survey state and due time,
attempts per channel, hashed form tokens, replies with duplicates, incentives,
English campaign text

Revision ID: d81f4c2a9e60
Revises: c4d1e2f3a4b5
Create Date: 2026-11-25 23:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd81f4c2a9e60'
down_revision = 'c4d1e2f3a4b5'
branch_labels = None
depends_on = None

def survey_columns() -> tuple:
    """The columns added to ``surveys`` (fresh objects each time: a Column belongs to one table)."""
    return (
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False, server_default='ko'),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('resends', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('outcome', sa.String(length=16), nullable=False, server_default=''),
    sa.Column('trouble_again', sa.Boolean(), nullable=True),
    sa.Column('staff_kind', sa.Boolean(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False, server_default=''),
    sa.Column('comment_keywords', sa.JSON(), nullable=False, server_default='[]'),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    )


def upgrade() -> None:
    op.create_table('service_centres',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('reply_line', sa.String(length=64), nullable=False),
    sa.Column('person_in_charge_id', sa.Integer(), nullable=True),
    sa.Column('person_phone', sa.String(length=64), nullable=False),
    sa.Column('person_email', sa.String(length=254), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['person_in_charge_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('service_areas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('centre_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_service_areas_centre_id', 'service_centres', ['centre_id'], ['id'])
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_en', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        for column in survey_columns():
            batch_op.add_column(column)
        batch_op.create_foreign_key('fk_surveys_customer_id', 'customers', ['customer_id'], ['id'])
        batch_op.create_foreign_key('fk_surveys_centre_id', 'service_centres', ['centre_id'], ['id'])
        batch_op.create_index('uq_surveys_ticket', ['ticket_id'], unique=True)
        batch_op.create_index('ix_surveys_state_due', ['state', 'due_at'], unique=False)

    op.create_table('survey_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_survey_attempts_survey_id', 'survey_attempts', ['survey_id'])
    op.create_table('survey_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_survey_tokens_survey_id', 'survey_tokens', ['survey_id'])
    op.create_table('survey_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('term', sa.String(length=32), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['survey_replies.id'], ),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_survey_replies_survey_id', 'survey_replies', ['survey_id'])
    op.create_index('ix_survey_replies_survey_fp', 'survey_replies', ['survey_id', 'channel', 'fingerprint'])
    op.create_table('survey_incentives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('reply_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('granted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['reply_id'], ['survey_replies.id'], ),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('survey_id')
    )


def downgrade() -> None:
    op.drop_table('survey_incentives')
    op.drop_index('ix_survey_replies_survey_fp', table_name='survey_replies')
    op.drop_index('ix_survey_replies_survey_id', table_name='survey_replies')
    op.drop_table('survey_replies')
    op.drop_index('ix_survey_tokens_survey_id', table_name='survey_tokens')
    op.drop_table('survey_tokens')
    op.drop_index('ix_survey_attempts_survey_id', table_name='survey_attempts')
    op.drop_table('survey_attempts')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index('ix_surveys_state_due')
        batch_op.drop_index('uq_surveys_ticket')
        batch_op.drop_constraint('fk_surveys_centre_id', type_='foreignkey')
        batch_op.drop_constraint('fk_surveys_customer_id', type_='foreignkey')
        for column in reversed(survey_columns()):
            batch_op.drop_column(column.name)
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('message_en')
    with op.batch_alter_table('service_areas', schema=None) as batch_op:
        batch_op.drop_constraint('fk_service_areas_centre_id', type_='foreignkey')
        batch_op.drop_column('centre_id')
    op.drop_table('service_centres')
