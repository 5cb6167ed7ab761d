"""Schema snapshots of every released migration, so that editing one fails the tests.

A released migration is history: databases were migrated with it as it then
stood, and changing it afterwards changes nothing in them.  Each revision
therefore has, here, the schema it was released with, one file per dialect
(`sqlite/<revision>.sql`, `postgresql/<revision>.sql`): the tables, indexes,
constraints, sequences, functions and triggers, and the rows its migrations
wrote, as the database itself states them after an upgrade of an empty
database to that revision.  `tests/test_migration_history.py` replays each
snapshot into an empty database and upgrades it to head, and checks that
today's migrations up to each revision still build that revision's snapshot.

**When a migration is released** (merged into main), write its snapshots with

    make migration-snapshots        # python -m tests.migration_snapshots

which writes the snapshot of every revision that has none, normally head's,
on SQLite and on the PostgreSQL database named by `--postgresql URL` or, by
default, beside `DATABASE_URL` (`<name>_snapshots`, created when missing, its
schema dropped).  Commit them with the migration.  Until a revision is
released its snapshot may be rewritten (`--replace REVISION`); after, never.

`--from-git` rebuilds every released snapshot from the git history: the
migrations directory of the first commit of main (first parents) where each
revision can be reached from the base.  Run it and `git status`: the snapshots
committed here are exactly what the history gives.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Engine, make_url

ROOT = Path(__file__).resolve().parent.parent.parent
MIGRATIONS = ROOT / "migrations"
SNAPSHOTS = Path(__file__).resolve().parent
DIALECTS = ("sqlite", "postgresql")
# Migrations never touch Redis; a URL nothing listens on keeps create_app from starting an embedded one.
NO_REDIS = "redis://127.0.0.1:1/0"


class UnsupportedSchema(Exception):
    """The database holds an object the snapshots do not know how to write (extend `dump`)."""


def dialect_of(url: str | URL) -> str:
    name = make_url(url).get_backend_name()
    if name not in DIALECTS:
        raise ValueError(f"no snapshots for {name}")
    return name


def snapshot_file(dialect: str, revision: str) -> Path:
    return SNAPSHOTS / dialect / f"{revision}.sql"


def revisions(directory: Path = MIGRATIONS) -> list[str]:
    """Every revision of a migrations directory, from the base to head (one line of history)."""
    script = ScriptDirectory(str(directory))
    heads = script.get_heads()
    if len(heads) != 1:
        raise ValueError(f"{directory}: {len(heads)} heads {heads}; merge them first")
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", heads[0])))]


# --------------------------------------------------------------------------------------------------
# Databases


def reset(url: str) -> None:
    """Empties a scratch database: removes a SQLite file, drops PostgreSQL's public schema (creating the
    database when it does not exist)."""
    if dialect_of(url) == "sqlite":
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    create_database(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def create_database(url: str) -> None:
    """Creates a PostgreSQL database when it does not exist yet."""
    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        found = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
        if found.first() is None:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    engine.dispose()


@contextmanager
def migration_app(url: str) -> Iterator[Flask]:
    """The app as `flask db upgrade` runs it (its engine settings: SQLite with foreign keys on), on `url`,
    inside its app context."""
    from webapp import create_app
    from webapp.config import Settings
    from webapp.extensions import db

    with tempfile.TemporaryDirectory(prefix="wassit-migrations-") as instance:
        settings = Settings(
            instance_path=Path(instance),
            secret_key="migration-snapshots-" + "x" * 32,
            database_url=url,
            redis_url=NO_REDIS,
            master_key=b"k" * 32,
        )
        app = create_app(settings)
        with app.app_context():
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


def upgrade(url: str, revision: str = "head", directory: Path = MIGRATIONS) -> None:
    """`flask db upgrade <revision>` on `url` with the migrations of `directory`."""
    from flask_migrate import upgrade as flask_upgrade

    with migration_app(url):
        flask_upgrade(directory=str(directory), revision=revision)


def engine_for(url: str) -> Engine:
    return create_engine(url)


# --------------------------------------------------------------------------------------------------
# Snapshots: written from the database's own account of its schema, replayed as they are.


def dump(engine: Engine, header: Sequence[str] = ()) -> str:
    """The schema and rows of a database as SQL statements that rebuild it in an empty database."""
    lines = [f"-- {line}" for line in header]
    statements = _sqlite_schema(engine) if engine.dialect.name == "sqlite" else _postgresql_schema(engine)
    statements += _rows(engine)
    return "\n".join(lines + [statement + ";" for statement in statements]) + "\n"


def replay(engine: Engine, sql: str) -> None:
    """Runs a snapshot's statements in an (empty) database, in one transaction."""
    connection = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            connection.driver_connection.executescript(f"BEGIN;\n{sql}\nCOMMIT;")  # type: ignore[union-attr]
        else:
            cursor = connection.cursor()
            cursor.execute(sql)  # no parameters: the simple query protocol runs every statement
            cursor.close()
            connection.commit()
    finally:
        connection.close()


def _sqlite_schema(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        kinds = connection.execute(
            text("SELECT type, name FROM sqlite_master WHERE type NOT IN ('table', 'index', 'trigger')")
        ).all()
        if kinds:
            raise UnsupportedSchema(f"SQLite objects the snapshots do not write: {kinds}")
        rows = connection.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, name"
            )
        ).scalars()
        return [_constraints_in_order(str(sql).strip()) for sql in rows]


_CONSTRAINT = re.compile(r"(CONSTRAINT|PRIMARY KEY|UNIQUE|FOREIGN KEY|CHECK)\b")


def _constraints_in_order(sql: str) -> str:
    """A CREATE TABLE as SQLAlchemy lays it out (one element a line), its table constraints sorted.

    Alembic's batch mode recreates a SQLite table with its constraints in an order that changes from
    one run to the next; their order means nothing, and sorted they write the same snapshot each time."""
    head, separator, rest = sql.partition(" (\n\t")
    if not head.startswith("CREATE TABLE") or not separator or not rest.endswith("\n)"):
        return sql
    items = rest[: -len("\n)")].split(", \n\t")
    columns = [item for item in items if not _CONSTRAINT.match(item)]
    constraints = sorted(item for item in items if _CONSTRAINT.match(item))
    return head + separator + ", \n\t".join(columns + constraints) + "\n)"


# The catalog queries both `dump` and `describe` read (PostgreSQL: the public schema, objects of no extension).
_PG_TRIGGERS = (
    "SELECT pg_get_triggerdef(g.oid) FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid "
    "WHERE NOT g.tgisinternal AND t.relnamespace = 'public'::regnamespace ORDER BY t.relname, g.tgname"
)
_PG_FUNCTIONS = (
    "SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') "
    "ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)"
)


def _postgresql_schema(engine: Engine) -> list[str]:
    """A small pg_dump: what the catalog says, rendered by the server's own pg_get_*def functions."""
    statements: list[str] = []
    with engine.connect() as connection:

        def query(sql: str, **params: Any) -> list[Any]:
            return list(connection.execute(text(sql), params).all())

        def scalars(sql: str) -> list[str]:
            return [str(value) for value in connection.execute(text(sql)).scalars()]

        others = query(
            "SELECT relname, relkind FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('v', 'm', 'f', 'c')"
        )
        others += query(
            "SELECT typname, typtype FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd')"
        )
        if others:
            raise UnsupportedSchema(f"PostgreSQL objects the snapshots do not write: {others}")

        for name, data_type, start, minimum, maximum, increment, cycle in query(
            "SELECT quote_ident(sequencename), data_type::text, start_value, min_value, max_value, increment_by, "
            "cycle FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename"
        ):
            statements.append(
                f"CREATE SEQUENCE {name} AS {data_type} INCREMENT BY {increment} MINVALUE {minimum} "
                f"MAXVALUE {maximum} START WITH {start}{' CYCLE' if cycle else ''}"
            )

        for oid, table in query(
            "SELECT oid, quote_ident(relname) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY relname"
        ):
            columns = []
            for column, column_type, not_null, default, identity, generated in query(
                "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                "pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated FROM pg_attribute a "
                "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                oid=oid,
            ):
                if identity or generated:
                    raise UnsupportedSchema(f"{table}.{column}: identity or generated column")
                columns.append(
                    f"    {column} {column_type}"
                    + (" NOT NULL" if not_null else "")
                    + (f" DEFAULT {default}" if default is not None else "")
                )
            statements.append(f"CREATE TABLE {table} (\n" + ",\n".join(columns) + "\n)")

        constraints = query(
            "SELECT quote_ident(t.relname), quote_ident(c.conname), c.contype, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid WHERE t.relnamespace = 'public'::regnamespace "
            "AND c.contype <> 'n' ORDER BY t.relname, c.contype, c.conname"  # NOT NULL: in the columns
        )
        for table, name, kind, definition in constraints:
            if kind != "f":
                statements.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for table, name, kind, definition in constraints:
            if kind == "f":
                statements.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")

        statements += scalars(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE ic.relnamespace = 'public'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) ORDER BY ic.relname"
        )
        statements += [definition.strip() for definition in scalars(_PG_FUNCTIONS)]
        statements += scalars(_PG_TRIGGERS)
        for sequence, table, column in query(
            "SELECT quote_ident(s.relname), quote_ident(t.relname), quote_ident(a.attname) FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_class t ON t.oid = d.refobjid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
            "WHERE d.deptype = 'a' AND s.relnamespace = 'public'::regnamespace ORDER BY s.relname"
        ):
            statements.append(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column}")
    return statements


def _rows(engine: Engine) -> list[str]:
    """INSERTs of every row the migrations wrote (the evidence chain's genesis, alembic_version)."""
    statements = []
    inspector = inspect(engine)
    with engine.connect() as connection:
        for table in sorted(inspector.get_table_names()):
            columns = [column["name"] for column in inspector.get_columns(table)]
            quoted = ", ".join(engine.dialect.identifier_preparer.quote(c) for c in columns)
            for row in connection.execute(text(f"SELECT {quoted} FROM {table} ORDER BY {_key(inspector, table)}")):  # noqa: S608
                values = ", ".join(_literal(value, engine.dialect.name) for value in row)
                # Names and values read from our own scratch database, quoted by _literal.
                statements.append(f"INSERT INTO {table} ({quoted}) VALUES ({values})")  # noqa: S608
    return statements


def _key(inspector: Any, table: str) -> str:
    """The columns that order a table's rows: its primary key."""
    columns = inspector.get_pk_constraint(table)["constrained_columns"]
    if not columns:
        raise UnsupportedSchema(f"{table} has no primary key to order its rows by")
    return ", ".join(inspector.bind.dialect.identifier_preparer.quote(c) for c in columns)


def _literal(value: object, dialect: str) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if dialect == "postgresql" else str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes | memoryview):
        data = bytes(value).hex()
        return f"'\\x{data}'::bytea" if dialect == "postgresql" else f"X'{data}'"
    raise UnsupportedSchema(f"a migration wrote a {type(value).__name__}; teach _literal to write it")


# --------------------------------------------------------------------------------------------------
# Comparing two databases: what they hold, not how their DDL was spelt.


def describe(engine: Engine) -> dict[str, Any]:
    """A database's schema and rows as comparable data: tables (columns by name, so that a column added
    later compares equal to one created with its table), keys, indexes, constraints, sequences, functions,
    triggers.  Read back from the database, so that two databases built by different statements (or
    SQLAlchemy versions) that hold the same schema describe alike."""
    inspector = inspect(engine)
    dialect = engine.dialect
    tables: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        pk = inspector.get_pk_constraint(table)
        tables[table] = {
            "columns": {
                column["name"]: {
                    "type": column["type"].compile(dialect=dialect),
                    "nullable": column["nullable"],
                    "default": _squash(column.get("default")),
                }
                for column in inspector.get_columns(table)
            },
            "primary_key": [pk.get("name"), pk["constrained_columns"]],
            "foreign_keys": sorted(
                [
                    fk["name"],
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                    sorted((fk.get("options") or {}).items()),
                ]
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted([u["name"], u["column_names"]] for u in inspector.get_unique_constraints(table)),
            "indexes": sorted(
                [
                    i["name"],
                    [str(c) for c in i["column_names"]],
                    [str(e) for e in i.get("expressions", [])],
                    i["unique"],
                ]
                for i in inspector.get_indexes(table)
                if not i.get("duplicates_constraint")
            ),
            "checks": sorted([c["name"], _squash(c["sqltext"])] for c in inspector.get_check_constraints(table)),
        }
    described: dict[str, Any] = {"tables": tables}
    with engine.connect() as connection:
        if dialect.name == "sqlite":
            described["triggers"] = [
                [name, table, _squash(sql)]
                for name, table, sql in connection.execute(
                    text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
                )
            ]
        else:
            described["triggers"] = [_squash(d) for d in connection.execute(text(_PG_TRIGGERS)).scalars()]
            described["functions"] = [_squash(d) for d in connection.execute(text(_PG_FUNCTIONS)).scalars()]
            described["sequences"] = sorted(inspector.get_sequence_names())
        described["rows"] = {
            table: [
                [_plain(value) for value in row]
                for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY {_key(inspector, table)}"))  # noqa: S608
            ]
            for table in tables
        }
    return described


def _squash(value: object) -> str | None:
    return None if value is None else " ".join(str(value).split())


def _plain(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


# --------------------------------------------------------------------------------------------------
# Writing snapshots (the command line is in __main__.py).


def write_snapshot(url: str, revision: str, directory: Path = MIGRATIONS, source: str = "") -> Path:
    """Upgrades an emptied scratch database to `revision` with the migrations of `directory` and writes
    its snapshot."""
    dialect = dialect_of(url)
    reset(url)
    upgrade(url, revision, directory)
    engine = engine_for(url)
    try:
        header = [
            f"Revision {revision} as released{f' ({source})' if source else ''}, {dialect}.",
            "Written by `python -m tests.migration_snapshots`: the schema a database migrated to this revision",
            "holds, replayed by tests/test_migration_history.py.  Never edit: released migrations are history.",
        ]
        sql = dump(engine, header)
    finally:
        engine.dispose()
    target = snapshot_file(dialect, revision)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(sql, encoding="utf-8")
    return target


@contextmanager
def extracted_history(ref: str = "HEAD") -> Iterator[list[tuple[str, str, Path]]]:
    """(revision, commit, migrations directory) for every revision in `ref`'s history, in order: the
    first commit of its first-parent line (main's merges, not the commits of merged branches) whose
    `migrations/` reaches the revision from the base.  The directories live until the block ends."""
    commits = _git("log", "--first-parent", "--reverse", "--format=%H", ref, "--", "migrations").decode().split()
    with tempfile.TemporaryDirectory(prefix="wassit-history-") as scratch:
        found: list[tuple[str, str, Path]] = []
        seen: set[str] = set()
        for commit in commits:
            target = Path(scratch) / commit[:12]
            with tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", commit, "migrations"))) as tar:
                tar.extractall(target, filter="data")
            directory = target / "migrations"
            for revision in _keep_reachable(directory):
                if revision not in seen:
                    seen.add(revision)
                    found.append((revision, commit, directory))
        yield found


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True).stdout


_REVISION = re.compile(r"^(revision|down_revision) = (?:'([0-9a-f]+)'|\"([0-9a-f]+)\"|None)", re.MULTILINE)


def _keep_reachable(directory: Path) -> list[str]:
    """The revisions of an extracted migrations directory that reach the base, from the base on.  A
    commit may hold a revision whose parent came only with a later commit (history written in an odd
    order): such files are removed from the extracted copy, so that alembic can read the rest."""
    parents: dict[str, str | None] = {}
    files: dict[str, Path] = {}
    for path in (directory / "versions").glob("*.py"):
        found = {key: a or b or None for key, a, b in _REVISION.findall(path.read_text(encoding="utf-8"))}
        if found.get("revision"):
            parents[str(found["revision"])] = found.get("down_revision")
            files[str(found["revision"])] = path
    children: dict[str | None, list[str]] = {}
    for revision, parent in parents.items():
        children.setdefault(parent, []).append(revision)
    order: list[str] = []
    parent: str | None = None
    while children.get(parent):
        if len(children[parent]) > 1:
            raise ValueError(f"{directory}: {children[parent]} all revise {parent}; one line of history expected")
        parent = children[parent][0]
        order.append(parent)
    for revision, path in files.items():
        if revision not in order:
            path.unlink()
    return order
