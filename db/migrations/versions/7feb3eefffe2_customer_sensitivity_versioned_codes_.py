"""customer sensitivity: versioned codes, contact codes, consultations, speech analyses

The two placeholder tables of the initial schema (sensitivity_codes,
customer_sensitivities) never held rows; they get their real columns here.
New NOT NULL columns carry a server default so the upgrade also works on a
database that has rows.

Revision ID: 7feb3eefffe2
Revises: c6efa69b39a3
Create Date: 2026-11-25 17:50:34.512830
"""
from alembic import op
import sqlalchemy as sa


revision = '7feb3eefffe2'
down_revision = 'c6efa69b39a3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consultations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultations_customer_id'), ['customer_id'], unique=False)

    op.create_table('ticket_analyses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('transcript', sa.Text(), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_analyses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_analyses_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('sensitivity_suggestions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('analysis_id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('sensitivity_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['analysis_id'], ['ticket_analyses.id'], ),
    sa.ForeignKeyConstraint(['code_id'], ['sensitivity_codes.id'], ),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['sensitivity_id'], ['customer_sensitivities.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sensitivity_suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sensitivity_suggestions_analysis_id'), ['analysis_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sensitivity_suggestions_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('customer_sensitivities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consultation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('code', sa.String(length=8), nullable=False, server_default=''))
        batch_op.alter_column('customer_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_customer_sensitivities_consultation_id'), ['consultation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_sensitivities_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_unique_constraint('uq_customer_sensitivities_consultation_code', ['consultation_id', 'code'])
        batch_op.create_unique_constraint('uq_customer_sensitivities_ticket_code', ['ticket_id', 'code'])
        batch_op.create_foreign_key('fk_customer_sensitivities_consultation_id', 'consultations',
                                    ['consultation_id'], ['id'])

    with op.batch_alter_table('sensitivity_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receptionist_primary_ko', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('receptionist_primary_en', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('receptionist_auxiliary_ko', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('receptionist_auxiliary_en', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('technician_primary_ko', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('technician_primary_en', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('technician_auxiliary_ko', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('technician_auxiliary_en', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=False, server_default='file'))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(), nullable=False,
                                      server_default=sa.text('CURRENT_TIMESTAMP')))
        batch_op.add_column(sa.Column('created_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_sensitivity_codes_created_by', 'users', ['created_by'], ['id'])
        batch_op.drop_column('knack_receptionist')
        batch_op.drop_column('auxiliary')
        batch_op.drop_column('knack_technician')



def downgrade() -> None:
    # Children first: suggestions and analyses, then the contact codes (rows of
    # consultations or of unidentified callers cannot exist in the old schema),
    # then consultations, then the code versions.
    with op.batch_alter_table('sensitivity_suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sensitivity_suggestions_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_sensitivity_suggestions_analysis_id'))
    op.drop_table('sensitivity_suggestions')

    with op.batch_alter_table('ticket_analyses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_analyses_ticket_id'))
    op.drop_table('ticket_analyses')

    op.execute("DELETE FROM customer_sensitivities WHERE customer_id IS NULL OR consultation_id IS NOT NULL")
    with op.batch_alter_table('customer_sensitivities', schema=None) as batch_op:
        batch_op.drop_constraint('fk_customer_sensitivities_consultation_id', type_='foreignkey')
        batch_op.drop_constraint('uq_customer_sensitivities_ticket_code', type_='unique')
        batch_op.drop_constraint('uq_customer_sensitivities_consultation_code', type_='unique')
        batch_op.drop_index(batch_op.f('ix_customer_sensitivities_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_customer_sensitivities_consultation_id'))
        batch_op.alter_column('customer_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('code')
        batch_op.drop_column('consultation_id')

    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultations_customer_id'))
    op.drop_table('consultations')

    with op.batch_alter_table('sensitivity_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('knack_technician', sa.TEXT(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('auxiliary', sa.TEXT(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('knack_receptionist', sa.TEXT(), nullable=False, server_default=''))
        batch_op.drop_constraint('fk_sensitivity_codes_created_by', type_='foreignkey')
        batch_op.drop_column('created_by')
        batch_op.drop_column('created_at')
        batch_op.drop_column('note')
        batch_op.drop_column('source')
        batch_op.drop_column('technician_auxiliary_en')
        batch_op.drop_column('technician_auxiliary_ko')
        batch_op.drop_column('technician_primary_en')
        batch_op.drop_column('technician_primary_ko')
        batch_op.drop_column('receptionist_auxiliary_en')
        batch_op.drop_column('receptionist_auxiliary_ko')
        batch_op.drop_column('receptionist_primary_en')
        batch_op.drop_column('receptionist_primary_ko')
