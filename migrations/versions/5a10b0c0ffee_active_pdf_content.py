"""active PDF content: the organisations allowed it, and what a letter's document holds

Revision ID: 5a10b0c0ffee
Revises: 5a0db0c0ffee
Create Date: 2026-12-04 00:10:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a10b0c0ffee'
down_revision = '5a0db0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs on SQLite and PostgreSQL alike: recreating `organisations` (batch mode) would fail on the
    # foreign keys that point at it.  Existing organisations keep refusing active content, as they always did.
    op.add_column(
        'organisations', sa.Column('allows_active_content', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column('letters', sa.Column('document_active_content', sa.String(length=200), nullable=True))


def downgrade():
    # SQLite ≥ 3.35 drops a column in place: recreating the tables (batch mode's default) is not needed.
    with op.batch_alter_table('letters', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('document_active_content')
    with op.batch_alter_table('organisations', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('allows_active_content')
