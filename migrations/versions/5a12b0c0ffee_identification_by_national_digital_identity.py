"""identification by national digital identity (OpenID Connect)

`letter_identities`: the identification a letter requires (`sms-otp`, `eid`, `sms-otp+eid`) and the
identity its sender expects (the CIN only as a keyed hash and masked); letters without a row ask for
the one-time code, as before.  `eid_attempts`: each trip of a recipient to an identity provider (the
hashed `state`, the `nonce` and PKCE verifier), used once.  `batch_rows.identity`: a bulk row's
identification, checked and minimised, until the row is deposited.

Revision ID: 5a12b0c0ffee
Revises: 5a10b0c0ffee
Create Date: 2026-12-04 00:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a12b0c0ffee'
down_revision = '5a10b0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'letter_identities',
        sa.Column('letter_id', sa.String(length=36), nullable=False),
        sa.Column('method', sa.Enum('sms-otp', 'eid', 'sms-otp+eid', name='identificationmethod', native_enum=False, length=16), nullable=False),
        sa.Column('expected_cin_hmac', sa.String(length=64), nullable=True),
        sa.Column('expected_cin_masked', sa.String(length=32), nullable=True),
        sa.Column('expected_name', sa.String(length=200), nullable=True),
        sa.Column('expected_birth_date', sa.Date(), nullable=True),
        sa.Column('eid_failures', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_letter_identities_letter_id_letters')),
        sa.PrimaryKeyConstraint('letter_id', name=op.f('pk_letter_identities')),
    )
    op.create_table(
        'eid_attempts',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('letter_id', sa.String(length=36), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('state_hash', sa.String(length=64), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('code_verifier', sa.String(length=128), nullable=False),
        sa.Column('created_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('status', sa.Enum('pending', 'succeeded', 'failed', name='eidattemptstatus', native_enum=False, length=16), nullable=False),
        sa.Column('outcome', sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_eid_attempts_letter_id_letters')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_eid_attempts')),
        sa.UniqueConstraint('state_hash', name=op.f('uq_eid_attempts_state_hash')),
    )
    with op.batch_alter_table('eid_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_eid_attempts_letter_id'), ['letter_id'], unique=False)
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.drop_column('identity')
    with op.batch_alter_table('eid_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_eid_attempts_letter_id'))
    op.drop_table('eid_attempts')
    op.drop_table('letter_identities')
