"""accounts: organisation verification, two-factor, recovery codes, invitations, sessions

Revision ID: 5a03b0c0ffee
Revises: 5a02b0c0ffee
Create Date: 2026-11-23 20:10:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a03b0c0ffee'
down_revision = '5a02b0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_by', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('verification_document', sa.String(length=400), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('login_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('login_failures_since', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('login_locked_until', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_key_id', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('totp_wrapped_key', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('totp_nonce', sa.LargeBinary(length=12), nullable=True))
        batch_op.add_column(sa.Column('totp_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_timestep', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('totp_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('totp_failures_since', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_locked_until', webapp.models.types.UTCDateTime(timezone=True), nullable=True))

    op.create_table('recovery_codes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.Enum('admin', 'sender', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by_user_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invited_by_user_id'], ['users.id'], name=op.f('fk_invitations_invited_by_user_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_invitations_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_organisation_id'), ['organisation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_organisation_id'))
    op.drop_table('invitations')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')

    with op.batch_alter_table('users', schema=None) as batch_op:
        for column in (
            'totp_locked_until', 'totp_failures_since', 'totp_failures', 'totp_last_timestep',
            'totp_ciphertext', 'totp_nonce', 'totp_wrapped_key', 'totp_key_id', 'totp_enabled_at',
            'login_locked_until', 'login_failures_since', 'login_failures', 'session_epoch',
        ):
            batch_op.drop_column(column)

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('verification_document')
        batch_op.drop_column('verified_by')
