"""Support search on a million letters: every kind of query, its median and p95, and its query plan.

    .venv/bin/python -m bench.support_search [--letters N] [--organisations N] [--queries N] [--no-json]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.support_search

Builds a schema with the migrations (SQLite in a temporary directory; on
PostgreSQL, a temporary database created next to the one DATABASE_URL names and
dropped at the end), bulk-loads plain rows (executemany on SQLite, COPY on
PostgreSQL): organisations of very different sizes (Zipf), recipients' mobiles
that recur (a debtor gets several letters), a third of the letters with an
email written in mixed case.  Then it times `webapp.support.search.search_letters`
for each kind of query, written the way a caller would say it (national
`06…` numbers, addresses in capitals, references without their dash, recipients'
names in any case, without their accents, in any order, and the start of an
organisation's name), prints the plan of every statement a search runs, and the
cost of the `/metrics` aggregates on the same data.  PASS when every kind of
search has its p95 under 50 ms (the `/metrics` aggregates: under a second).

Recipients' names are drawn from Moroccan first and last names with Zipf weights, so
that some words are very common ("Bennani", "Mohamed": tens of thousands of letters)
and others rare, as in a real register.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, make_url

from bench.proofs import RESULTS, machine
from webapp import create_app
from webapp.config import Settings, normalise_database_url
from webapp.extensions import db
from webapp.letters.deposit import REFERENCE_ALPHABET, parse_mobile_number
from webapp.letters.errors import InvalidInput
from webapp.letters.states import LetterStatus
from webapp.models.letter import normalised_email
from webapp.models.names import fold_name, name_keys, name_words
from webapp.models.organisation import organisation_name_key
from webapp.support.search import search_letters

THRESHOLD_SECONDS = 0.05  # a search, at p95
METRICS_THRESHOLD_SECONDS = 1.0  # the /metrics aggregates
FIRST_NAMES = (
    "Mohamed",
    "Fatima",
    "Ahmed",
    "Khadija",
    "Youssef",
    "Salma",
    "Amine",
    "Imane",
    "Omar",
    "Hamza",
    "Sara",
    "Mehdi",
    "Nadia",
    "Rachid",
    "Zineb",
    "Karim",
    "Hajar",
    "Said",
    "Meryem",
    "Hassan",
    "Aicha",
    "Ayoub",
    "Houda",
    "Anas",
    "Leila",
    "Othmane",
    "Souad",
    "Yassine",
    "Ghizlane",
    "Ilyas",
    "Najat",
    "Driss",
    "Samira",
    "Abdelilah",
    "Loubna",
    "Reda",
    "Hanane",
    "Badr",
    "Siham",
    "Hicham",
    "Asmae",
    "Jamal",
    "Wiam",
    "Nabil",
    "Kawtar",
    "Tarik",
    "Btissam",
    "Adil",
    "Hélène",
    "Chaïmae",
    "Réda",
    "Aïcha",
)
LAST_NAMES = (
    "Bennani",
    "Alami",
    "El Idrissi",
    "Tazi",
    "Berrada",
    "Chraibi",
    "Fassi",
    "Ouazzani",
    "Benjelloun",
    "Lahlou",
    "Sqalli",
    "Kettani",
    "Benkirane",
    "Amrani",
    "Bouzidi",
    "Cherkaoui",
    "El Amrani",
    "Hajji",
    "Ziani",
    "Naciri",
    "Bensaid",
    "Benmoussa",
    "Tahiri",
    "Filali",
    "Lamrani",
    "Mansouri",
    "Belhaj",
    "Rami",
    "Skalli",
    "Slaoui",
    "Guessous",
    "Sebti",
    "Benali",
    "Kabbaj",
    "Jettou",
    "Mernissi",
    "Hakimi",
    "Ait Benhaddou",
    "Bouchta",
    "Moussaoui",
    "Zaidi",
    "Rhanim",
    "Saadi",
    "El Khatib",
    "Ennaji",
    "Qadiri",
    "Zemmouri",
    "Daoudi",
    "Benabdellah",
    "Essaidi",
    "Boukili",
    "Tounsi",
    "Lazrak",
    "Bouhlal",
    "Chafik",
    "Benchekroun",
)
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
STATUSES = [
    (LetterStatus.ACCEPTED, 55),
    (LetterStatus.NEGLECTED, 15),
    (LetterStatus.REFUSED, 8),
    (LetterStatus.NOTIFIED, 15),
    (LetterStatus.UNDELIVERABLE, 3),
    (LetterStatus.DEPOSITED, 4),
]
LETTER_COLUMNS = (
    "id",
    "reference",
    "organisation_id",
    "sender_user_id",
    "status",
    "channel",
    "language",
    "recipient_name",
    "recipient_phone",
    "recipient_email",
    "recipient_email_normalised",
    "document_name",
    "document_size",
    "document_sha256",
    "code_failures",
    "reminders_sent",
    "deposited_at",
    "version",
)
CHUNK = 50_000


@dataclass(frozen=True)
class Dataset:
    """What the queries are drawn from: a sample of the letters as stored, and the organisations."""

    letters: list[dict[str, Any]]
    organisations: list[dict[str, Any]]  # biggest first


@dataclass(frozen=True)
class Figures:
    kind: str
    seconds: list[float]
    results: int

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.seconds)  # nearest rank
        return ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000

    @property
    def threshold_ms(self) -> float:
        return (METRICS_THRESHOLD_SECONDS if self.kind.startswith("/metrics") else THRESHOLD_SECONDS) * 1000

    @property
    def passed(self) -> bool:
        return self.p95_ms < self.threshold_ms

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "queries": len(self.seconds),
            "median_ms": round(self.median_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "letters_found": self.results,
            "threshold_ms": self.threshold_ms,
            "passed": self.passed,
        }


# --- the data -------------------------------------------------------------------------------------------


def mobile_prefixes() -> list[str]:
    """The 3-digit starts of Moroccan mobile numbers that the deposit accepts (`+212 6xx`, `+212 7xx`)."""
    prefixes = []
    for prefix in (f"{first}{rest:02d}" for first in "67" for rest in range(100)):
        try:
            parse_mobile_number(f"+212{prefix}123456")
        except InvalidInput:
            continue
        prefixes.append(prefix)
    return prefixes


def mobile(rng: random.Random, prefixes: list[str]) -> str:
    return f"+212{rng.choice(prefixes)}{rng.randrange(10**6):06d}"


def email(rng: random.Random, index: int) -> str:
    first = rng.choice(["Youssef", "Fatima", "Amine", "Khadija", "Omar", "Salma", "Mehdi", "Imane", "Hamza", "Sara"])
    last = rng.choice(["Alami", "Bennani", "El Idrissi", "Tazi", "Berrada", "Chraibi", "Fassi", "Ouazzani"])
    domain = rng.choice(["gmail.com", "Gmail.com", "yahoo.fr", "hotmail.com", "menara.ma", "outlook.com"])
    local = f"{first}.{last.replace(' ', '')}{index}"
    return f"{local if rng.random() < 0.5 else local.lower()}@{domain.lower()}"


def organisations(rng: random.Random, count: int, now: datetime) -> list[dict[str, Any]]:
    kinds = ["SARL", "SA", "SAS", "Avocats", "Syndic", "Immobilier", "Crédit", "Assurances"]
    rows = []
    for index in range(count):
        name = f"{rng.choice(['Banque', 'Cabinet', 'Société', 'Groupe', 'Agence'])} {index:05d} {rng.choice(kinds)}"
        legal = f"{name} {rng.choice(['Maroc', 'Casablanca', 'Rabat', 'Tanger'])}"
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "user_id": str(uuid.uuid4()),
                "name": name,
                "legal_name": legal,
                "ice": f"{index:06d}{rng.randrange(10**9):09d}",
            }
        )
    return rows


def recipient_name(rng: random.Random, first_weights: list[float], last_weights: list[float]) -> str:
    """A Moroccan name, sometimes with a second last name, sometimes in capitals, as senders type them."""
    first = rng.choices(FIRST_NAMES, weights=first_weights)[0]
    last = rng.choices(LAST_NAMES, weights=last_weights)[0]
    if rng.random() < 0.15:
        last += " " + rng.choices(LAST_NAMES, weights=last_weights)[0]
    if rng.random() < 0.2:
        last = last.upper()
    return f"{first} {last}"


def _zipf(count: int) -> list[float]:
    return [1 / (rank + 1) for rank in range(count)]


def letter_rows(rng: random.Random, count: int, orgs: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """The letters in deposit order; a recipient's mobile recurs about 1.4 times on average."""
    first_weights, last_weights = _zipf(len(FIRST_NAMES)), _zipf(len(LAST_NAMES))
    weights = [1 / (rank + 1) for rank in range(len(orgs))]  # Zipf: the first organisation is the biggest
    chosen = rng.choices(range(len(orgs)), weights=weights, k=count)
    statuses = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES], k=count)
    prefixes = mobile_prefixes()
    phones = [mobile(rng, prefixes) for _ in range(int(count * 0.7) or 1)]
    references: set[str] = set()
    step = SPAN / count
    for index in range(count):
        while True:
            raw = "".join(rng.choices(REFERENCE_ALPHABET, k=8))
            reference = f"{raw[:4]}-{raw[4:]}"
            if reference not in references:
                references.add(reference)
                break
        org = orgs[chosen[index]]
        address = email(rng, index) if rng.random() < 0.33 else None
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            reference,
            org["id"],
            org["user_id"],
            statuses[index].value,
            "email" if address else "sms",
            "fr",
            recipient_name(rng, first_weights, last_weights),
            rng.choice(phones),
            address,
            normalised_email(address),
            "mise-en-demeure.pdf",
            120_000,
            secrets.token_hex(32),
            0,
            0,
            START + step * index,
            1,
        )


# --- loading ----------------------------------------------------------------------------------------------


def load(connection: Connection, rng: random.Random, count: int, org_count: int) -> Dataset:
    now = datetime.now(UTC)
    orgs = organisations(rng, org_count, now)
    org_rows = [
        {
            "id": o["id"],
            "name": o["name"],
            "legal_name": o["legal_name"],
            "ice": o["ice"],
            "name_key": organisation_name_key(o["name"]),
            "legal_name_key": organisation_name_key(o["legal_name"]),
            "created_at": now,
        }
        for o in orgs
    ]
    connection.execute(
        text(
            "INSERT INTO organisations (id, name, legal_name, ice, name_key, legal_name_key, created_at) "
            "VALUES (:id, :name, :legal_name, :ice, :name_key, :legal_name_key, :created_at)"
        ),
        org_rows,
    )
    connection.execute(
        text("INSERT INTO organisation_name_words (organisation_id, word) VALUES (:id, :word)"),
        [{"id": o["id"], "word": word} for o in orgs for word in name_words(f"{o['name']} {o['legal_name']}")],
    )
    connection.execute(
        text(
            "INSERT INTO users (id, organisation_id, email, password_hash, role, is_active, created_at, "
            "session_epoch, login_failures, totp_failures) "
            "VALUES (:user_id, :id, :email, 'x', 'admin', true, :created_at, 0, 0, 0)"
        ),
        [
            {"user_id": o["user_id"], "id": o["id"], "email": f"{o['user_id']}@bench.ma", "created_at": now}
            for o in orgs
        ],
    )
    sample: list[dict[str, Any]] = []
    rows = letter_rows(rng, count, orgs)
    sample_every = max(1, count // 2000)
    raw = connection.connection.driver_connection
    sqlite = connection.dialect.name == "sqlite"
    placeholders = ", ".join("?" for _ in LETTER_COLUMNS)
    insert = f"INSERT INTO letters ({', '.join(LETTER_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    insert_words = "INSERT INTO letter_name_words (letter_id, word, deposited_at) VALUES (?, ?, ?)"
    started = time.perf_counter()
    loaded = 0
    if sqlite:
        cursor = raw.cursor()  # type: ignore[union-attr]
        while chunk := [next(rows, None) for _ in range(CHUNK)]:
            chunk_rows = [_sqlite_row(r) for r in chunk if r is not None]
            if not chunk_rows:
                break
            cursor.executemany(insert, chunk_rows)
            cursor.executemany(insert_words, [w for r in chunk_rows for w in _word_rows(r)])
            sample += [dict(zip(LETTER_COLUMNS, r, strict=True)) for r in chunk_rows[::sample_every]]
            loaded += len(chunk_rows)
            _progress(loaded, count, started)
    else:
        words: list[tuple[Any, ...]] = []
        with raw.cursor() as cursor, cursor.copy(f"COPY letters ({', '.join(LETTER_COLUMNS)}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
                words += _word_rows(row)
                if loaded % sample_every == 0:
                    sample.append(dict(zip(LETTER_COLUMNS, row, strict=True)))
                loaded += 1
                if loaded % CHUNK == 0:
                    _progress(loaded, count, started)
        copy_words = "COPY letter_name_words (letter_id, word, deposited_at) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copy_words) as copy:  # type: ignore[union-attr]
            for word_row in words:
                copy.write_row(word_row)
    print(f"\rloaded {loaded:,} letters in {time.perf_counter() - started:.0f} s" + " " * 20, file=sys.stderr)
    return Dataset(sample, orgs)


def _word_rows(row: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The `letter_name_words` rows of a letter row, as `models.letter._index_recipient_name` writes them."""
    letter_id = row[LETTER_COLUMNS.index("id")]
    deposited_at = row[LETTER_COLUMNS.index("deposited_at")]
    return [(letter_id, word, deposited_at) for word in name_keys(row[LETTER_COLUMNS.index("recipient_name")])]


def drop_letter_indexes(connection: Connection) -> list[str]:
    """Drops the migrations' `ix_` indexes of `letters` and `letter_name_words` (a bulk load then builds
    each once, sorted); returns the statements that create them again."""
    if connection.dialect.name == "sqlite":
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('letters', 'letter_name_words')"
        )
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('letters', 'letter_name_words')"
    indexes = [(name, sql) for name, sql in connection.exec_driver_sql(query).all() if name.startswith("ix_")]
    for name, _sql in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _name, sql in indexes]


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # As UTCDateTime stores it on SQLite: naive UTC, SQLAlchemy's text format.
    values = list(row)
    deposited_at: datetime = values[LETTER_COLUMNS.index("deposited_at")]
    values[LETTER_COLUMNS.index("deposited_at")] = deposited_at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return tuple(values)


def _progress(done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"\rloading letters: {done:,}/{total:,} ({done / elapsed:,.0f}/s)", end="", file=sys.stderr)


# --- the databases ----------------------------------------------------------------------------------------


@contextmanager
def bench_database(directory: Path, database_url: str | None) -> Iterator[str]:
    """SQLite in `directory`, or a temporary PostgreSQL database beside `database_url`, dropped afterwards."""
    if not database_url:
        yield f"sqlite:///{directory / 'wassit.db'}"
        return
    url = make_url(normalise_database_url(database_url))
    name = f"wassit_bench_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def bench_app(directory: Path, database_url: str) -> Iterator[Flask]:
    from flask_migrate import upgrade

    settings = Settings(
        instance_path=directory,
        secret_key=secrets.token_urlsafe(48),
        database_url=database_url,
        redis_url="redis://127.0.0.1:1/0",  # never contacted: nothing is enqueued
        master_key=secrets.token_bytes(32),
        public_url="https://wassit.ma",
        sms_outbox=directory / "sms-outbox.jsonl",
    )
    app = create_app(settings)
    with app.app_context():
        logging.disable(logging.INFO)  # Alembic's "Running upgrade …" lines
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


# --- the queries ------------------------------------------------------------------------------------------


def national(phone: str) -> str:
    """`+212612345678` as callers say it: `06 12 34 56 78`."""
    digits = "0" + phone.removeprefix("+212")
    return " ".join(digits[i : i + 2] for i in range(0, 10, 2))


def queries(dataset: Dataset, rng: random.Random, count: int) -> dict[str, list[str]]:
    letters = rng.sample(dataset.letters, min(count, len(dataset.letters)))
    with_email = [row for row in dataset.letters if row["recipient_email"]]
    emails = rng.sample(with_email, min(count, len(with_email)))
    biggest = dataset.organisations[: max(1, count // 5)]
    orgs = biggest + rng.sample(dataset.organisations, min(count - len(biggest), len(dataset.organisations)))
    return {
        "letter id": [row["id"].upper() for row in letters],
        "reference": [row["reference"].replace("-", " ").lower() for row in letters],
        "recipient mobile": [national(row["recipient_phone"]) for row in letters],
        "recipient email": [row["recipient_email"].upper() for row in emails],
        "organisation name": [o["name"].upper() for o in orgs[:count]],
        "organisation ICE": [o["ice"] for o in orgs[:count]],
        "recipient last name": [_last_name(row["recipient_name"], rng) for row in letters],
        "recipient full name": [_full_name(row["recipient_name"], rng) for row in letters],
        "organisation name part": [_name_part(o["name"], rng) for o in orgs[:count]],
        "name nobody has": [f"Zyxwvu{i}" for i in range(count)],
        "no match": [f"nobody{i}@nowhere.ma" for i in range(count)],
    }


def _last_name(name: str, rng: random.Random) -> str:
    """The last name alone, as a caller spells it: in any case, without its accents."""
    last = name.split(" ", 1)[1]
    return rng.choice([last, last.lower(), last.upper(), fold_name(last)])


def _full_name(name: str, rng: random.Random) -> str:
    """The whole name, sometimes last name first, sometimes without accents or in capitals."""
    first, last = name.split(" ", 1)
    said = rng.choice([f"{first} {last}", f"{last} {first}"])
    return rng.choice([said, said.upper(), fold_name(said)])


def _name_part(name: str, rng: random.Random) -> str:
    """Part of an organisation's name: "00042", "banq 0004", "cabinet 00042"."""
    kind, number = name.split()[:2]
    return rng.choice([number, f"{kind[:4].lower()} {number[:4]}", f"{kind.lower()} {number}"])


def time_searches(kind: str, texts: Sequence[str]) -> Figures:
    seconds: list[float] = []
    found = 0
    search_letters(db.session, texts[0])  # warm the statement caches
    db.session.rollback()
    for query in texts:
        start = time.perf_counter()
        found += len(search_letters(db.session, query))
        seconds.append(time.perf_counter() - start)
        db.session.rollback()
        db.session.expunge_all()
    return Figures(kind, seconds, found)


def plans(query: str) -> list[tuple[str, list[str]]]:
    """Each SELECT a search for `query` runs, with the database's plan for it."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        search_letters(db.session, query)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    connection = db.session.connection()
    explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
    result = []
    for statement, parameters in statements:
        rows = connection.exec_driver_sql(explain + statement, parameters).all()
        lines = [str(row[-1]) for row in rows]
        result.append((" ".join(statement.split()), lines))
    db.session.rollback()
    return result


def time_metrics() -> Figures | None:
    """The SQL aggregates behind `/metrics`, on the same million letters."""
    try:
        from webapp.support.operations import database_counts
    except ImportError:
        return None
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        database_counts(db.session, datetime.now(UTC))
        seconds.append(time.perf_counter() - start)
        db.session.rollback()
    return Figures("/metrics aggregates (5 runs)", seconds, 0)


# --- the run ----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[str, list[Figures], dict[str, list[tuple[str, list[str]]]], float]:
    rng = random.Random(args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="wassit-bench-") as tmp,
        bench_database(Path(tmp), args.database_url) as url,
        bench_app(Path(tmp), url),
    ):
        backend = db.engine.dialect.name
        started = time.perf_counter()
        with db.engine.begin() as connection:
            indexes = drop_letter_indexes(connection)
            dataset = load(connection, rng, args.letters, args.organisations)
            indexing = time.perf_counter()
            for statement in indexes:
                connection.exec_driver_sql(statement)
            print(f"indexed in {time.perf_counter() - indexing:.0f} s", file=sys.stderr)
        # Statistics, as a live database has them (autovacuum on PostgreSQL: also the visibility map
        # that lets the /metrics counts read only the indexes).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE" if backend == "sqlite" else "VACUUM ANALYZE")
        build_seconds = time.perf_counter() - started
        texts = queries(dataset, rng, args.queries)
        figures = [time_searches(kind, values) for kind, values in texts.items()]
        shown = {kind: plans(values[0]) for kind, values in texts.items()}
        metrics = time_metrics()
        if metrics is not None:
            figures.append(metrics)
    return backend, figures, shown, build_seconds


def report(
    backend: str,
    figures: list[Figures],
    shown: dict[str, list[tuple[str, list[str]]]],
    build_seconds: float,
    args: argparse.Namespace,
    host: dict[str, Any],
) -> str:
    load = ", ".join(f"{x:.2f}" for x in host["load_average"] or [])
    lines = [
        f"Support search on {args.letters:,} letters of {args.organisations:,} organisations, {backend}; "
        f"built in {build_seconds:.0f} s",
        f"machine: {host['cores']} cores ({host['usable_cores']} usable), {host['cpu']}, "
        f"Python {host['python']}, load average {load or 'n/a'}",
        "",
        "Query plans (one query of each kind):",
    ]
    for kind, statements in shown.items():
        lines.append(f"  {kind}:")
        for statement, plan in statements:
            lines.append(f"    {statement[:160]}{'…' if len(statement) > 160 else ''}")
            lines += [f"      {line}" for line in plan]
    width = max(len(f.kind) for f in figures)
    lines += ["", f"{'':<{width}}  {'queries':>7}  {'median ms':>9}  {'p95 ms':>8}  {'found':>6}  p95 under"]
    lines += [
        f"{f.kind:<{width}}  {len(f.seconds):>7}  {f.median_ms:>9.2f}  {f.p95_ms:>8.2f}  {f.results:>6}  "
        f"{f.threshold_ms:>5.0f} ms {'PASS' if f.passed else 'FAIL'}"
        for f in figures
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--letters", type=int, default=1_000_000, help="letters loaded (default 1,000,000)")
    parser.add_argument("--organisations", type=int, default=2_000, help="sender organisations (default 2,000)")
    parser.add_argument("--queries", type=int, default=50, help="queries timed per kind (default 50)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the data and the queries")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL server to use (a temporary database is created beside it); default: SQLite",
    )
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/support_search-*.json")
    args = parser.parse_args(argv)
    if args.letters < 1 or args.organisations < 1 or args.queries < 1:
        parser.error("--letters, --organisations and --queries must be at least 1")

    host = machine()
    backend, figures, shown, build_seconds = run(args)
    print(report(backend, figures, shown, build_seconds, args, host))
    passed = all(f.passed for f in figures)
    print(
        f"\n{'PASS' if passed else 'FAIL'}: every kind of search {'under' if passed else 'NOT under'} "
        f"{THRESHOLD_SECONDS * 1000:.0f} ms at p95 (/metrics under {METRICS_THRESHOLD_SECONDS:.0f} s)"
    )

    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        at = datetime.now(UTC)
        path = RESULTS / f"support_search-{backend}-{at:%Y%m%dT%H%M%SZ}.json"
        result = {
            "benchmark": "support_search",
            "at": at.isoformat(timespec="seconds"),
            "backend": backend,
            "letters": args.letters,
            "organisations": args.organisations,
            "build_seconds": round(build_seconds, 1),
            "machine": host,
            "figures": [f.as_dict() for f in figures],
            "plans": {kind: [{"sql": s, "plan": p} for s, p in statements] for kind, statements in shown.items()},
        }
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"written to {path}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
