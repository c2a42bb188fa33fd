"""lifecycle and escalation: support groups, SLA table, assignments, persisted timers

New NOT NULL ticket columns carry a server default so the upgrade works on a
database that has tickets; foreign keys are named so the downgrade can drop them.

Revision ID: 1015c66410cf
Revises: 3058e555778f
Create Date: 2026-11-25 22:19:24.266383
"""
from alembic import op
import sqlalchemy as sa


revision = '1015c66410cf'
down_revision = '3058e555778f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('support_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('skills', sa.Text(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('sla_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('progress_minutes', sa.Integer(), nullable=True),
    sa.Column('first_level_minutes', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['support_groups.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('system', 'severity')
    )
    op.create_table('support_group_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('skills', sa.Text(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['support_groups.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_id', 'user_id')
    )
    with op.batch_alter_table('support_group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_group_members_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_group_members_user_id'), ['user_id'], unique=False)

    op.create_table('scheduled_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('fired_at', sa.DateTime(), nullable=True),
    sa.Column('result', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_jobs_status_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_jobs_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('from_user_id', sa.Integer(), nullable=True),
    sa.Column('from_group_id', sa.Integer(), nullable=True),
    sa.Column('to_group_id', sa.Integer(), nullable=True),
    sa.Column('to_user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['from_group_id'], ['support_groups.id'], ),
    sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.ForeignKeyConstraint(['to_group_id'], ['support_groups.id'], ),
    sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_assignments_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('system', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('first_level_started_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('level', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalated_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cause', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('action', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('last_progress_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('progress_overdue', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_tickets_group_id'), ['group_id'], unique=False)
        batch_op.create_foreign_key('fk_tickets_group_id', 'support_groups', ['group_id'], ['id'])
        batch_op.create_foreign_key('fk_tickets_assignee_id', 'users', ['assignee_id'], ['id'])
        batch_op.create_foreign_key('fk_tickets_escalated_by_id', 'users', ['escalated_by_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tickets_escalated_by_id', type_='foreignkey')
        batch_op.drop_constraint('fk_tickets_assignee_id', type_='foreignkey')
        batch_op.drop_constraint('fk_tickets_group_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tickets_group_id'))
        batch_op.drop_column('progress_overdue')
        batch_op.drop_column('last_progress_at')
        batch_op.drop_column('action')
        batch_op.drop_column('cause')
        batch_op.drop_column('escalated_by_id')
        batch_op.drop_column('assignee_id')
        batch_op.drop_column('group_id')
        batch_op.drop_column('level')
        batch_op.drop_column('first_level_started_at')
        batch_op.drop_column('system')

    with op.batch_alter_table('ticket_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_assignments_ticket_id'))

    op.drop_table('ticket_assignments')
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_jobs_ticket_id'))
        batch_op.drop_index('ix_scheduled_jobs_status_due')

    op.drop_table('scheduled_jobs')
    with op.batch_alter_table('support_group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_group_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_support_group_members_group_id'))

    op.drop_table('support_group_members')
    op.drop_table('sla_rules')
    op.drop_table('support_groups')
