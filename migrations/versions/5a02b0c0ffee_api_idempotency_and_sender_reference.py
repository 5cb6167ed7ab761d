"""API: idempotency keys and the sender's own reference

Revision ID: 5a02b0c0ffee
Revises: 5a01b0c0ffee
Create Date: 2026-11-23 20:10:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a02b0c0ffee'
down_revision = '5a01b0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_reference', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('idempotency_fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_resend_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_letters_sender_reference'), ['sender_reference'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_letters_organisation_id'), ['organisation_id', 'idempotency_key'])

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_by_user_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbound_messages_requested_by_user_id_users'), 'users', ['requested_by_user_id'], ['id'])


def downgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbound_messages_requested_by_user_id_users'), type_='foreignkey')
        batch_op.drop_column('requested_by_user_id')

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_letters_organisation_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_letters_sender_reference'))
        batch_op.drop_column('last_resend_at')
        batch_op.drop_column('idempotency_fingerprint')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('sender_reference')
