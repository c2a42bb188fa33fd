"""contact-center floor: sites, queue settings, queue log-in, callbacks; caller voice per analysis

New NOT NULL columns carry a server default so the upgrade works on a database
that has rows; foreign keys are named so the downgrade can drop them.

Revision ID: 3058e555778f
Revises: 7feb3eefffe2
Create Date: 2026-11-25 19:24:42.926521
"""
from alembic import op
import sqlalchemy as sa


revision = '3058e555778f'
down_revision = '7feb3eefffe2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('callbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('queue_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('caller_name', sa.String(length=200), nullable=False),
    sa.Column('place_at', sa.DateTime(), nullable=False),
    sa.Column('wait_seconds', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['call_id'], ['call_records.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callbacks_call_id'), ['call_id'], unique=False)
        batch_op.create_index('ix_callbacks_status_place', ['status', 'place_at'], unique=False)

    with op.batch_alter_table('queue_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logged_in', sa.Boolean(), nullable=False, server_default=sa.true()))

    # The caller's voice per analysis (their baseline on later calls).
    with op.batch_alter_table('ticket_analyses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice', sa.JSON(), nullable=False, server_default='{}'))

    with op.batch_alter_table('queues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_en', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('menu_key', sa.String(length=1), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('max_wait_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('overflow_queue_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('wrap_up_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('announce_seconds', sa.Integer(), nullable=False, server_default='30'))
        batch_op.add_column(sa.Column('music_class', sa.String(length=64), nullable=False, server_default='default'))
        batch_op.add_column(sa.Column('site_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_queues_overflow_queue_id', 'queues', ['overflow_queue_id'], ['id'])
        batch_op.create_foreign_key('fk_queues_site_id', 'sites', ['site_id'], ['id'])
    # Queues made before had priority 0; the router weighs waits by priority (>= 1).
    op.execute("UPDATE queues SET priority = 1 WHERE priority < 1")

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('site_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_users_site_id', 'sites', ['site_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('fk_users_site_id', type_='foreignkey')
        batch_op.drop_column('site_id')
        batch_op.drop_column('state_until')

    with op.batch_alter_table('queues', schema=None) as batch_op:
        batch_op.drop_constraint('fk_queues_site_id', type_='foreignkey')
        batch_op.drop_constraint('fk_queues_overflow_queue_id', type_='foreignkey')
        batch_op.drop_column('site_id')
        batch_op.drop_column('music_class')
        batch_op.drop_column('announce_seconds')
        batch_op.drop_column('wrap_up_seconds')
        batch_op.drop_column('overflow_queue_id')
        batch_op.drop_column('max_wait_seconds')
        batch_op.drop_column('menu_key')
        batch_op.drop_column('title_en')

    with op.batch_alter_table('ticket_analyses', schema=None) as batch_op:
        batch_op.drop_column('voice')

    with op.batch_alter_table('queue_members', schema=None) as batch_op:
        batch_op.drop_column('logged_in')

    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index('ix_callbacks_status_place')
        batch_op.drop_index(batch_op.f('ix_callbacks_call_id'))

    op.drop_table('callbacks')
    op.drop_table('sites')
