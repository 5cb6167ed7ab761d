"""sender verification documents and decisions; name words for support search

- `draft_documents`: a PDF chosen on the compose page whose submission failed for another field, kept
  encrypted for an hour for the corrected submission.
- `organisation_documents`: what an organisation uploads for its verification (trade register, ICE
  certificate, the legal representative's CIN), each encrypted with its own data key.
- `organisations`: when the organisation submitted its documents, the operator's refusal (who, when,
  why), and the state of the email telling its admins of the decision.
- `letter_name_words` and `organisation_name_words`: the folded words of recipients' and
  organisations' names (no accents, no case), and the pairs of a recipient's name's words, indexed, so that support finds "Bennani" or part of
  an organisation's name by index look-ups (see `webapp.support.search`).  Filled here for the rows
  that exist, folded in Python as the models do.

Revision ID: 5a13b0c0ffee
Revises: 5a0fb0c0ffee
Create Date: 2026-12-04 00:00:00

"""
from alembic import op
import sqlalchemy as sa

import unicodedata

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a13b0c0ffee'
down_revision = '5a0fb0c0ffee'
branch_labels = None
depends_on = None

BATCH = 5000


# As `webapp.models.names.name_words` was written by this revision (copied: later changes to it do not
# change what this migration did).
def _fold_name(text):
    decomposed = unicodedata.normalize("NFKD", text or "")
    kept = []
    for char in decomposed:
        if unicodedata.combining(char) or char == "\u0640":
            continue
        kept.append(char if char.isalnum() else " ")
    return " ".join(unicodedata.normalize("NFC", "".join(kept)).casefold().split())


def _name_words(text):
    words = []
    for word in _fold_name(text).split():
        word = word[:64]
        if word not in words:
            words.append(word)
    return words[:12]


def _name_keys(text):
    words = _name_words(text)
    head = words[:4]
    pairs = {" ".join(sorted((a, b))) for i, a in enumerate(head) for b in head[i + 1:]}
    return words + sorted(pairs)


def upgrade():
    op.create_table('organisation_documents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.Enum('trade_register', 'ice_certificate', 'representative_id', name='documentkind', native_enum=False, length=30), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(length=12), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by_user_id', sa.String(length=36), nullable=False),
    sa.Column('uploaded_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('replaced_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_documents_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['uploaded_by_user_id'], ['users.id'], name=op.f('fk_organisation_documents_uploaded_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_documents'))
    )
    with op.batch_alter_table('organisation_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_documents_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('draft_documents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(length=12), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_draft_documents_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft_documents'))
    )
    with op.batch_alter_table('draft_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draft_documents_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_draft_documents_created_at'), ['created_at'], unique=False)

    op.create_table('organisation_name_words',
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('word', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_name_words_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('organisation_id', 'word', name=op.f('pk_organisation_name_words'))
    )
    with op.batch_alter_table('organisation_name_words', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_name_words_word'), ['word'], unique=False)

    op.create_table('letter_name_words',
    sa.Column('letter_id', sa.String(length=36), nullable=False),
    sa.Column('word', sa.String(length=129), nullable=False),
    sa.Column('deposited_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_letter_name_words_letter_id_letters')),
    sa.PrimaryKeyConstraint('letter_id', 'word', name=op.f('pk_letter_name_words'))
    )

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification_submitted_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refused_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refused_by', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('refusal_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('decision_email_status', sa.Enum('pending', 'sending', 'sent', 'failed', name='accountemailstatus', native_enum=False, length=20), nullable=True))
        batch_op.add_column(sa.Column('decision_emailed_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_organisations_verification_submitted_at'), ['verification_submitted_at'], unique=False)

    _fill_name_words()
    # Built after the fill: one sorted build instead of a million insertions into the index.
    with op.batch_alter_table('letter_name_words', schema=None) as batch_op:
        batch_op.create_index('ix_letter_name_words_word_deposited_at', ['word', 'deposited_at', 'letter_id'], unique=False)


def _fill_name_words():
    connection = op.get_bind()
    organisations = sa.table('organisations', sa.column('id'), sa.column('name'), sa.column('legal_name'))
    org_words = sa.table('organisation_name_words', sa.column('organisation_id'), sa.column('word'))
    rows = [
        {'organisation_id': org_id, 'word': word}
        for org_id, name, legal_name in connection.execute(
            sa.select(organisations.c.id, organisations.c.name, organisations.c.legal_name)
        )
        for word in _name_words(f"{name or ''} {legal_name or ''}")
    ]
    if rows:
        connection.execute(sa.insert(org_words), rows)

    letters = sa.table(
        'letters',
        sa.column('id'),
        sa.column('recipient_name'),
        sa.column('deposited_at', webapp.models.types.UTCDateTime(timezone=True)),
    )
    letter_words = sa.table(
        'letter_name_words',
        sa.column('letter_id'),
        sa.column('word'),
        sa.column('deposited_at', webapp.models.types.UTCDateTime(timezone=True)),
    )
    last_id = ''
    while True:  # keyset pages: memory stays flat on a million letters
        page = connection.execute(
            sa.select(letters.c.id, letters.c.recipient_name, letters.c.deposited_at)
            .where(letters.c.id > last_id)
            .order_by(letters.c.id)
            .limit(BATCH)
        ).all()
        if not page:
            break
        last_id = page[-1][0]
        rows = [
            {'letter_id': letter_id, 'word': word, 'deposited_at': deposited_at}
            for letter_id, name, deposited_at in page
            for word in _name_keys(name)
        ]
        if rows:
            connection.execute(sa.insert(letter_words), rows)


def downgrade():
    # SQLite ≥ 3.35 drops a column in place: recreating `organisations` (batch mode's default) would fail
    # on the foreign keys that point at it once it holds rows.
    with op.batch_alter_table('organisations', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_verification_submitted_at'))
        batch_op.drop_column('decision_emailed_at')
        batch_op.drop_column('decision_email_status')
        batch_op.drop_column('refusal_reason')
        batch_op.drop_column('refused_by')
        batch_op.drop_column('refused_at')
        batch_op.drop_column('verification_submitted_at')

    with op.batch_alter_table('draft_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draft_documents_created_at'))
        batch_op.drop_index(batch_op.f('ix_draft_documents_user_id'))
    op.drop_table('draft_documents')
    with op.batch_alter_table('letter_name_words', schema=None) as batch_op:
        batch_op.drop_index('ix_letter_name_words_word_deposited_at')
    op.drop_table('letter_name_words')
    with op.batch_alter_table('organisation_name_words', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_name_words_word'))
    op.drop_table('organisation_name_words')
    with op.batch_alter_table('organisation_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_documents_organisation_id'))
    op.drop_table('organisation_documents')
