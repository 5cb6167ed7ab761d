"""sign-up email confirmation

Revision ID: 5a06b0c0ffee
Revises: 5a05b0c0ffee
Create Date: 2026-11-30 23:55:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a06b0c0ffee'
down_revision = '5a05b0c0ffee'
branch_labels = None
depends_on = None


# The columns of a row whose link is emailed by a job (webapp.models.organisation.LinkEmail).
def _link_email_columns():
    return [
        sa.Column('token_key_id', sa.String(length=16), nullable=True),
        sa.Column('token_wrapped_key', sa.LargeBinary(), nullable=True),
        sa.Column('token_nonce', sa.LargeBinary(length=12), nullable=True),
        sa.Column('token_ciphertext', sa.LargeBinary(), nullable=True),
        sa.Column('language', sa.String(length=5), server_default='fr', nullable=False),
        sa.Column('email_attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('email_sent_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('email_error', sa.String(length=200), nullable=True),
    ]


EMAIL_STATUS = sa.Enum('pending', 'sending', 'sent', 'failed', name='accountemailstatus', native_enum=False, length=20)
LINK_EMAIL_COLUMNS = (
    'email_error', 'email_sent_at', 'email_attempts', 'email_status', 'language',
    'token_ciphertext', 'token_nonce', 'token_wrapped_key', 'token_key_id',
)


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_confirmed_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
    # Users from before this revision were created by the operator or by an invitation (their address is
    # proven), or signed up before confirmation existed: none of them is locked out.
    op.execute('UPDATE users SET email_confirmed_at = created_at')

    # Invitations sent before this revision were emailed in the request: their email is done.
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        for column in _link_email_columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column('email_status', EMAIL_STATUS, nullable=True))
    op.execute("UPDATE invitations SET email_status = 'sent'")
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.alter_column('email_status', existing_type=EMAIL_STATUS, nullable=False)

    op.create_table('email_confirmations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    *_link_email_columns(),
    sa.Column('email_status', EMAIL_STATUS, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_email_confirmations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_confirmations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_email_confirmations_token_hash'))
    )
    with op.batch_alter_table('email_confirmations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_confirmations_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('email_confirmations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_confirmations_user_id'))
    op.drop_table('email_confirmations')

    with op.batch_alter_table('invitations', schema=None) as batch_op:
        for column in LINK_EMAIL_COLUMNS:
            batch_op.drop_column(column)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
