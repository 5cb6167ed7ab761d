"""support search indexes

Exact-match search for the support console on a million letters: a lower-cased,
indexed copy of the recipient's email, folded organisation names, the ICE, an
organisation's newest letters; and the indexes the operations view and /metrics
count with (messages of the last hour, evidence records not yet sealed).

Revision ID: 5a07b0c0ffee
Revises: 5a06b0c0ffee
Create Date: 2026-11-30 23:55:00

"""
from alembic import op
import sqlalchemy as sa

import unicodedata

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a07b0c0ffee'
down_revision = '5a06b0c0ffee'
branch_labels = None
depends_on = None

BATCH = 5000


# As `webapp.models.letter.normalised_email` and `webapp.models.organisation.organisation_name_key` were
# written by this revision (copied, so that later changes to them do not change what this migration did).
def normalised_email(email):
    return email.lower() if email else None


def organisation_name_key(name):
    folded = " ".join(unicodedata.normalize("NFC", name or "").split()).casefold()
    return folded or None


def _backfill(table, key_columns, source_columns, fold):
    """Fills `key_columns` from the rows' values, folded in Python like the models do (SQL lower() is ASCII-only)."""
    connection = op.get_bind()
    rows = sa.table(table, sa.column('id'), *(sa.column(c) for c in source_columns), *(sa.column(k) for k in key_columns))
    update = (
        sa.update(rows)
        .where(rows.c.id == sa.bindparam('row_id'))
        .values({k: sa.bindparam(f'new_{k}') for k in key_columns})
    )
    everything = connection.execute(
        sa.select(rows.c.id, *(rows.c[c] for c in source_columns)).where(
            sa.or_(*(rows.c[c].is_not(None) for c in source_columns))
        )
    ).all()
    for start in range(0, len(everything), BATCH):
        chunk = everything[start : start + BATCH]
        connection.execute(
            update,
            [
                {'row_id': row[0], **{f'new_{k}': fold(value) for k, value in zip(key_columns, row[1:], strict=True)}}
                for row in chunk
            ],
        )


def upgrade():
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_email_normalised', sa.String(length=254), nullable=True))
    _backfill('letters', ['recipient_email_normalised'], ['recipient_email'], normalised_email)
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letters_recipient_email_normalised'), ['recipient_email_normalised'], unique=False)
        batch_op.create_index('ix_letters_organisation_id_deposited_at', ['organisation_id', 'deposited_at'], unique=False)

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('legal_name_key', sa.String(length=200), nullable=True))
    _backfill('organisations', ['name_key', 'legal_name_key'], ['name', 'legal_name'], organisation_name_key)
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisations_name_key'), ['name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisations_legal_name_key'), ['legal_name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisations_ice'), ['ice'], unique=False)

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_messages_created_at'), ['created_at'], unique=False)

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_sealed_at'), ['sealed_at'], unique=False)


def downgrade():
    # SQLite ≥ 3.35 drops a column in place: recreating `letters` or `organisations` (batch mode's default)
    # would fail on the foreign keys that point at them once they hold rows.
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_sealed_at'))

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_messages_created_at'))

    with op.batch_alter_table('organisations', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_ice'))
        batch_op.drop_index(batch_op.f('ix_organisations_legal_name_key'))
        batch_op.drop_index(batch_op.f('ix_organisations_name_key'))
        batch_op.drop_column('legal_name_key')
        batch_op.drop_column('name_key')

    with op.batch_alter_table('letters', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_letters_organisation_id_deposited_at')
        batch_op.drop_index(batch_op.f('ix_letters_recipient_email_normalised'))
        batch_op.drop_column('recipient_email_normalised')
