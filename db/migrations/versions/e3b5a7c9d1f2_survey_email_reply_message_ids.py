"""survey e-mail replies: the Message-ID each survey e-mail was sent with

Revision ID: e3b5a7c9d1f2
Revises: d4a7c2e91f03
Create Date: 2026-11-26 01:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'e3b5a7c9d1f2'
down_revision = 'd4a7c2e91f03'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_survey_attempts_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_attempts_message_id'))
        batch_op.drop_column('message_id')
