"""bulk sending batches and rows

Revision ID: 5a04b0c0ffee
Revises: 5a03b0c0ffee
Create Date: 2026-11-30 23:55:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a04b0c0ffee'
down_revision = '5a03b0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('batches',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.Enum('ready', 'depositing', 'done', 'failed', name='batchstatus', native_enum=False, length=20), nullable=False),
    sa.Column('csv_name', sa.String(length=255), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('document_confidential', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('deposited_rows', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('created_at', webapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_batches_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_batches_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batches_created_at'), ['created_at'], unique=False)

    op.create_table('batch_documents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(length=12), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_batch_documents_batch_id_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_documents')),
    sa.UniqueConstraint('batch_id', 'name', name=op.f('uq_batch_documents_batch_id'))
    )
    with op.batch_alter_table('batch_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_documents_batch_id'), ['batch_id'], unique=False)

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_letters_batch_id'), ['batch_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_letters_batch_id_batches'), 'batches', ['batch_id'], ['id'])

    op.create_table('batch_rows',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('recipient_name', sa.String(length=200), nullable=False),
    sa.Column('recipient_phone', sa.String(length=20), nullable=False),
    sa.Column('recipient_email', sa.String(length=254), nullable=True),
    sa.Column('sender_reference', sa.String(length=100), nullable=True),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('document_name', sa.String(length=255), nullable=False),
    sa.Column('letter_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_batch_rows_batch_id_batches')),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_batch_rows_letter_id_letters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_rows')),
    sa.UniqueConstraint('batch_id', 'row_number', name=op.f('uq_batch_rows_batch_id')),
    sa.UniqueConstraint('letter_id', name=op.f('uq_batch_rows_letter_id'))
    )
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_rows_batch_id'), ['batch_id'], unique=False)


def downgrade():
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_rows_batch_id'))
    op.drop_table('batch_rows')

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_letters_batch_id_batches'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_letters_batch_id'))
        batch_op.drop_column('batch_id')

    with op.batch_alter_table('batch_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_documents_batch_id'))
    op.drop_table('batch_documents')

    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_created_at'))
        batch_op.drop_index(batch_op.f('ix_batches_organisation_id'))
    op.drop_table('batches')
