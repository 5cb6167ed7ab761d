"""proof archive timestamps

Proofs are now PAdES B-LTA: they end with an archive (document) timestamp,
renewed by a scheduled job before its TSA certificate expires.  Each proof
records when that is, indexed, so the job finds the proofs due with one range
query.

Proofs issued before this revision are PAdES B-T, without any archive
timestamp: they are marked due at once (their issue time), so that the job
gives them their validation data and a first archive timestamp while their
certificates are still valid.

Revision ID: 5a09b0c0ffee
Revises: 5a0ab0c0ffee
Create Date: 2026-12-03 18:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a09b0c0ffee'
down_revision = '5a0ab0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('proofs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archive_expires_at', webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_proofs_archive_expires_at'), ['archive_expires_at'], unique=False)
    op.execute("UPDATE proofs SET archive_expires_at = issued_at WHERE status = 'ready' AND issued_at IS NOT NULL")


def downgrade():
    # SQLite ≥ 3.35 drops a column in place: recreating `proofs` (batch mode's default) is not needed.
    with op.batch_alter_table('proofs', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_proofs_archive_expires_at'))
        batch_op.drop_column('archive_expires_at')
