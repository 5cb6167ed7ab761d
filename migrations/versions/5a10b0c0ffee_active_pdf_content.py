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
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('allows_active_content', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_active_content', sa.String(length=200), nullable=True))


def downgrade():
    # SQLite ≥ 3.35 drops a column in place: recreating the tables (batch mode's default) is not needed.
    with op.batch_alter_table('letters', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('document_active_content')
    with op.batch_alter_table('organisations', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('allows_active_content')
