"""letters.code_wait_until: growing waits after wrong codes instead of a permanent lock

Issue 16: a letter is never locked for good by wrong codes any more.  After a
few consecutive wrong codes the next check waits until `code_wait_until`; a
fresh code SMS asked from the recipient's browser is checked at once all the
same.  `locked_at` stays (it records the locks of the old rule) but is no
longer set.

Revision ID: 5a0eb0c0ffee
Revises: 5a13b0c0ffee
Create Date: 2026-12-04 00:00:00

"""

from alembic import op
import sqlalchemy as sa

import webapp.models.types


# revision identifiers, used by Alembic.
revision = "5a0eb0c0ffee"
down_revision = "5a13b0c0ffee"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("letters") as batch_op:
        batch_op.add_column(sa.Column("code_wait_until", webapp.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    # In place (SQLite >= 3.35): recreating `letters` would fail on the foreign keys that point at it.
    with op.batch_alter_table("letters", recreate="never") as batch_op:
        batch_op.drop_column("code_wait_until")
