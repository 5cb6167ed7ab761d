"""identification evidence: the hash of each text sent, the SMS that carried each code

`outbound_messages.text_sha256` keeps the SHA-256 of the notification or reminder
text handed to the provider, so that its evidence record can state it whenever the
message is settled; `one_time_codes.message_id` names the SMS that carried a code,
so that the identification record points at the code-sent record.  Both are empty
for rows written before this revision.

Revision ID: 5a0ab0c0ffee
Revises: 5a08b0c0ffee
Create Date: 2026-12-01 10:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a0ab0c0ffee'
down_revision = '5a08b0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_sha256', sa.String(length=64), nullable=True))

    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_one_time_codes_message_id_outbound_messages'), 'outbound_messages', ['message_id'], ['id']
        )


def downgrade():
    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_one_time_codes_message_id_outbound_messages'), type_='foreignkey')
        batch_op.drop_column('message_id')

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('text_sha256')
