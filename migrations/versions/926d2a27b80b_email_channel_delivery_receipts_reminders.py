"""email channel, delivery receipts and reminders

Revision ID: 926d2a27b80b
Revises: 9db49d683c8f
Create Date: 2026-11-23 19:06:40.549859

The new enum values (message purpose `reminder`, message status `cancelled`)
need no change: both columns are VARCHAR(20) without a CHECK constraint.

On SQLite, adding the unique constraint rebuilds `outbound_messages` (batch
mode): it is done before `delivery_receipts`, which references it, exists.
"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '926d2a27b80b'
down_revision = '9db49d683c8f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminder_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        # One reminder of each number per letter and channel, whatever the number of schedulers.
        batch_op.create_unique_constraint(
            batch_op.f('uq_outbound_messages_letter_id'), ['letter_id', 'channel', 'reminder_number']
        )

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminders_sent', sa.Integer(), server_default='0', nullable=False))

    op.create_table('delivery_receipts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('provider_message_id', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error_code', sa.String(length=20), nullable=True),
    sa.Column('operator_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('evidence_id', sa.String(length=36), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_delivery_receipts_evidence_id_evidence')),
    sa.ForeignKeyConstraint(['message_id'], ['outbound_messages.id'], name=op.f('fk_delivery_receipts_message_id_outbound_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_receipts')),
    # A receipt repeated by the provider is stored (and recorded as evidence) once.
    sa.UniqueConstraint('provider', 'provider_message_id', 'status', name=op.f('uq_delivery_receipts_provider'))
    )
    with op.batch_alter_table('delivery_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_receipts_message_id'), ['message_id'], unique=False)


def downgrade():
    with op.batch_alter_table('delivery_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_receipts_message_id'))

    op.drop_table('delivery_receipts')

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_column('reminders_sent')

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_outbound_messages_letter_id'), type_='unique')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('delivery_status')
        batch_op.drop_column('reminder_number')
