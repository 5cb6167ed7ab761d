"""support console: agents, audit log, searchable recipient email

Revision ID: 5a05b0c0ffee
Revises: 5a04b0c0ffee
Create Date: 2026-11-30 23:55:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a05b0c0ffee'
down_revision = '5a04b0c0ffee'
branch_labels = None
depends_on = None

# The agents' audit log is append-only: the database itself refuses to change or delete a row.
APPEND_ONLY_MESSAGE = 'agent_audit_log is append-only'
PG_FUNCTION = f"""
CREATE FUNCTION agent_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}';
END;
$$ LANGUAGE plpgsql
"""


def upgrade():
    op.create_table('agents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_operator_admin', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False),
    sa.Column('login_failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('login_failures_since', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('login_locked_until', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_enabled_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_key_id', sa.String(length=16), nullable=True),
    sa.Column('totp_wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('totp_nonce', sa.LargeBinary(length=12), nullable=True),
    sa.Column('totp_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('totp_last_timestep', sa.Integer(), nullable=True),
    sa.Column('totp_failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('totp_failures_since', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('totp_locked_until', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('email', name=op.f('uq_agents_email'))
    )

    op.create_table('agent_audit_log',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('letter_id', sa.String(length=36), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_audit_log_agent_id_agents')),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_agent_audit_log_letter_id_letters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_audit_log'))
    )
    with op.batch_alter_table('agent_audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_agent_audit_log_agent_id_at', ['agent_id', 'at'], unique=False)
        batch_op.create_index('ix_agent_audit_log_letter_id_at', ['letter_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_audit_log_at'), ['at'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        op.execute(
            'CREATE TRIGGER agent_audit_log_append_only BEFORE UPDATE OR DELETE ON agent_audit_log '
            'FOR EACH ROW EXECUTE FUNCTION agent_audit_log_append_only()'
        )
        # TRUNCATE bypasses row triggers; tests truncate every table between runs, so it stays allowed.
    else:
        for operation in ('UPDATE', 'DELETE'):
            op.execute(
                f'CREATE TRIGGER agent_audit_log_no_{operation.lower()} BEFORE {operation} ON agent_audit_log '
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_confidential', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_letters_locked_at'), ['locked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_letters_code_failures'), ['code_failures'], unique=False)
        batch_op.create_index('ix_letters_status_deposited_at', ['status', 'deposited_at'], unique=False)

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_by_agent_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_outbound_messages_requested_by_agent_id_agents'), 'agents', ['requested_by_agent_id'], ['id']
        )
        batch_op.create_index('ix_outbound_messages_status_created_at', ['status', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_messages_status_created_at')
        batch_op.drop_constraint(batch_op.f('fk_outbound_messages_requested_by_agent_id_agents'), type_='foreignkey')
        batch_op.drop_column('requested_by_agent_id')

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_index('ix_letters_status_deposited_at')
        batch_op.drop_index(batch_op.f('ix_letters_code_failures'))
        batch_op.drop_index(batch_op.f('ix_letters_locked_at'))
        batch_op.drop_column('document_confidential')

    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER agent_audit_log_append_only ON agent_audit_log')
        op.execute('DROP FUNCTION agent_audit_log_append_only()')
    with op.batch_alter_table('agent_audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_audit_log_at'))
        batch_op.drop_index('ix_agent_audit_log_letter_id_at')
        batch_op.drop_index('ix_agent_audit_log_agent_id_at')
    op.drop_table('agent_audit_log')  # on SQLite its triggers go with it
    op.drop_table('agents')
