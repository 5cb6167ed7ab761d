"""Documents, proofs and batch files on object storage; retention and legal holds; key rotations

Each encrypted blob's row gains the key of its object in the store and the object's
SHA-256; its inline `ciphertext` becomes optional (kept by rows written before, until
`flask storage migrate` moves them).  Letters gain `final_at` (backfilled from their last
evidence record for letters already in a final state) and `document_deleted_at`.  New
tables: `legal_holds` and `key_rotations`.

Revision ID: 5a0fb0c0ffee
Revises: 5a12b0c0ffee
Create Date: 2026-12-04 00:00:00

"""

from alembic import op
import sqlalchemy as sa

import webapp.models.types


# revision identifiers, used by Alembic.
revision = "5a0fb0c0ffee"
down_revision = "5a12b0c0ffee"
branch_labels = None
depends_on = None

_BLOB_TABLES = ("documents", "batch_documents", "proofs")


def upgrade():
    for table in _BLOB_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("object_key", sa.String(length=200), nullable=True))
            batch_op.add_column(sa.Column("object_sha256", sa.String(length=64), nullable=True))
            batch_op.create_unique_constraint(batch_op.f(f"uq_{table}_object_key"), ["object_key"])
            if table != "proofs":
                batch_op.alter_column("ciphertext", existing_type=sa.LargeBinary(), nullable=True)

    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final_at", webapp.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("document_deleted_at", webapp.models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_letters_final_at"), ["final_at"], unique=False)
    # Letters already final: their retention runs from their last recorded event.
    op.execute(
        "UPDATE letters SET final_at = (SELECT max(evidence.occurred_at) FROM evidence "
        "WHERE evidence.letter_id = letters.id) "
        "WHERE status IN ('accepted', 'refused', 'neglected', 'undeliverable')"
    )

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("letter_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("placed_at", webapp.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(length=80), nullable=False),
        sa.Column("lifted_at", webapp.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=80), nullable=True),
        sa.Column("lift_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["letter_id"], ["letters.id"], name=op.f("fk_legal_holds_letter_id_letters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index("ix_legal_holds_letter_id_lifted_at", ["letter_id", "lifted_at"], unique=False)

    op.create_table(
        "key_rotations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("old_key_id", sa.String(length=100), nullable=True),
        sa.Column("new_key_id", sa.String(length=100), nullable=False),
        sa.Column("started_at", webapp.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", webapp.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_by", sa.String(length=80), nullable=False),
        sa.Column("rewrapped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("record", sa.Text(), nullable=True),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )
    with op.batch_alter_table("key_rotations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_rotations_kind"), ["kind"], unique=False)


def downgrade():
    with op.batch_alter_table("key_rotations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_rotations_kind"))
    op.drop_table("key_rotations")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_holds_letter_id_lifted_at")
    op.drop_table("legal_holds")
    # In place (SQLite >= 3.35): recreating `letters` would fail on the foreign keys that point at it.
    with op.batch_alter_table("letters", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_letters_final_at"))
        batch_op.drop_column("document_deleted_at")
        batch_op.drop_column("final_at")
    # Objects cannot go back into rows that never held them: a downgrade needs every object's row to still
    # hold its ciphertext (nothing written since the upgrade), else it stops here.
    for table in _BLOB_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table != "proofs":
                batch_op.alter_column("ciphertext", existing_type=sa.LargeBinary(), nullable=False)
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_object_key"), type_="unique")
            batch_op.drop_column("object_sha256")
            batch_op.drop_column("object_key")
