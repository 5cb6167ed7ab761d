"""batches.document_confidential where it is missing

Revision 5a04b0c0ffee was edited after its release (commit "Confidential
batches…") to create `batches.document_confidential`, so databases at 5a04 or
later exist in two states: migrated before that edit, without the column, and
after it, with it.  This revision adds the column, with the server default the
models declare, only where it is missing.  5a04b0c0ffee itself stays as it is:
restoring it would leave the databases made after the edit with a column no
revision creates.

Released migrations are never edited: a change is a new revision, and
`tests/test_migration_history.py` fails when a released one no longer builds
the schema it was released with (see `tests/migration_snapshots/`).

Revision ID: 5a0db0c0ffee
Revises: 5a09b0c0ffee
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '5a0db0c0ffee'
down_revision = '5a09b0c0ffee'
branch_labels = None
depends_on = None


def upgrade():
    columns = {column['name'] for column in sa.inspect(op.get_bind()).get_columns('batches')}
    if 'document_confidential' not in columns:
        # A plain ADD COLUMN on both SQLite and PostgreSQL: existing batches become not confidential,
        # which is what they were (the column did not exist when they were uploaded).
        op.add_column(
            'batches', sa.Column('document_confidential', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    # Nothing to undo: at 5a09b0c0ffee a database may have the column (migrated with the edited 5a04b0c0ffee)
    # or not, and both are valid there.  Dropping it would forget which batches are confidential, and an
    # upgrade would then show their document names to support agents.
    pass
