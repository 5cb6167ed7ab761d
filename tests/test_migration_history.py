"""Every released revision upgrades to the models, and no released migration has been edited.

For every revision in the history, a database is brought to that revision *as it was released* by
replaying its snapshot (`tests/migration_snapshots/<dialect>/<revision>.sql`, written from the git
history: see that package), then upgraded to head with today's migrations, and its schema compared
with the models as `alembic check` does.  Separately, today's migrations up to each revision must
still build exactly that revision's snapshot: editing a released migration fails here, since the
databases migrated with it as released never see the edit.  Add a migration instead.

Runs on SQLite, or on PostgreSQL when DATABASE_URL names one (in a scratch database beside it,
`<name>_history`).  When you release a migration, write its snapshot: `make migration-snapshots`.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from tests import migration_snapshots as snapshots
from webapp.extensions import db

REVISIONS = snapshots.revisions()
HEAD = REVISIONS[-1]

# The one edit made to a released migration before this test existed: commit facf890 ("Confidential
# batches…") added batches.document_confidential to 5a04b0c0ffee, after 5a04b0c0ffee to 5a07b0c0ffee had
# been released without it (5a0db0c0ffee adds it where it is missing).  Today's migrations up to those
# revisions therefore build one column more than their snapshots.  Never add to this: write a migration.
EDITED_AFTER_RELEASE: dict[str, set[tuple[str, str]]] = {
    revision: {("batches", "document_confidential")}
    for revision in ("5a04b0c0ffee", "5a05b0c0ffee", "5a06b0c0ffee", "5a07b0c0ffee")
}


def _dialect() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or this worker's scratch PostgreSQL database, emptied."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    parsed = make_url(url)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    name = f"{parsed.database}{'_' + worker if worker else ''}_history"
    scratch_url = parsed.set(database=name).render_as_string(hide_password=False)
    snapshots.reset(scratch_url)
    yield scratch_url
    snapshots.reset(scratch_url)


def _replay_snapshot(url: str, revision: str) -> None:
    """The database as a migration to `revision` left it when `revision` was released."""
    path = snapshots.snapshot_file(_dialect(), revision)
    if not path.exists():
        pytest.fail(
            f"{revision} has no snapshot ({path.relative_to(snapshots.ROOT)}): once the migration is released, "
            "write it with `make migration-snapshots` (see tests/migration_snapshots/__init__.py) and commit it"
        )
    snapshots.reset(url)
    engine = snapshots.engine_for(url)
    try:
        snapshots.replay(engine, path.read_text(encoding="utf-8"))
    finally:
        engine.dispose()


def _describe(url: str) -> dict[str, Any]:
    engine = snapshots.engine_for(url)
    try:
        return snapshots.describe(engine)
    finally:
        engine.dispose()


def _differences(found: dict[str, Any], expected: dict[str, Any], labels: tuple[str, str]) -> str:
    lines = difflib.unified_diff(
        json.dumps(expected, indent=1, sort_keys=True).splitlines(),
        json.dumps(found, indent=1, sort_keys=True).splitlines(),
        *labels,
        lineterm="",
        n=2,
    )
    return "\n".join(lines)


def _models_differences(url: str) -> list[Any]:
    """What `alembic check` would report: the upgraded schema against the models (as test_migrations.py)."""
    with snapshots.migration_app(url), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema an empty database gets from today's migrations, up to head."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        parsed = make_url(url)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        url = parsed.set(database=f"{parsed.database}{'_' + worker if worker else ''}_fresh").render_as_string(
            hide_password=False
        )
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('fresh') / 'fresh.db'}"
    snapshots.reset(url)
    snapshots.upgrade(url, "head")
    described = _describe(url)
    snapshots.reset(url)
    return described


def test_every_revision_has_its_snapshots() -> None:
    for dialect in snapshots.DIALECTS:
        written = {path.stem for path in (snapshots.SNAPSHOTS / dialect).glob("*.sql")}
        assert written <= set(REVISIONS), f"{dialect}: snapshots of revisions that no longer exist"
        missing = [revision for revision in REVISIONS if revision not in written]
        assert not missing, f"{dialect}: no snapshot for {missing}: run `make migration-snapshots` once released"


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_database_released_at_each_revision_upgrades_to_the_models(
    revision: str, scratch: str, fresh_install: dict[str, Any]
) -> None:
    _replay_snapshot(scratch, revision)
    snapshots.upgrade(scratch, "head")

    assert _models_differences(scratch) == []
    # And it ends where a new installation starts: same columns, keys, indexes, triggers and rows.
    upgraded = _describe(scratch)
    assert upgraded == fresh_install, _differences(upgraded, fresh_install, ("new installation", "upgraded"))


@pytest.mark.parametrize("revision", REVISIONS)
def test_todays_migrations_still_build_each_released_schema(revision: str, scratch: str) -> None:
    _replay_snapshot(scratch, revision)
    released = _describe(scratch)

    snapshots.reset(scratch)
    snapshots.upgrade(scratch, revision)
    today = _describe(scratch)

    for table, column in EDITED_AFTER_RELEASE.get(revision, set()):
        # The known edit is there today and absent from the snapshot, and is all that differs.
        assert column not in released["tables"][table]["columns"]
        del today["tables"][table]["columns"][column]
    assert today == released, (
        f"today's migrations up to {revision} no longer build the schema it was released with: a released "
        f"migration was edited.  Undo the edit and add a migration instead.\n"
        + _differences(today, released, ("snapshot", "today's migrations"))
    )
