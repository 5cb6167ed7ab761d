"""Support search: every kind of query, normalised like the deposit, exact, newest first, through indexes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, select

from tests.conftest import Sender
from webapp.clock import FrozenClock
from webapp.config import Settings
from webapp.extensions import db
from webapp.models import Letter, LetterNameWord, Organisation
from webapp.services import current_services
from webapp.support.search import MatchedBy, find_letters, search_letters
from webapp.trust.journal import write_checkpoint

PHONE = "+212612345678"
OTHER_PHONE = "+212698765432"


@pytest.fixture
def letters(deposit: Callable[..., Any], clock: FrozenClock) -> Callable[..., str]:
    """Deposits a letter through the API, one minute after the previous one; returns its id."""

    def factory(**fields: str) -> str:
        clock.advance(60)
        response = deposit(**fields)
        assert response.status_code == 201, response.text
        letter_id: str = response.get_json()["id"]
        return letter_id

    return factory


def ids(app: Flask, query: str, limit: int = 50) -> list[str]:
    with app.app_context():
        return [letter.id for letter in search_letters(db.session, query, limit=limit)]


def test_a_reference_in_any_writing_finds_its_letter(app: Flask, letters: Callable[..., str]) -> None:
    wanted = letters()
    letters()
    with app.app_context():
        reference = db.session.get_one(Letter, wanted).reference
    compact = reference.replace("-", "")
    for query in (reference, reference.lower(), f"  {compact} ", f"{compact[:4]} {compact[4:]}", compact.lower()):
        assert ids(app, query) == [wanted], query
    with app.app_context():
        [hit] = find_letters(db.session, reference)
        assert hit.matched_by is MatchedBy.REFERENCE


def test_a_letter_id_in_any_case_finds_it(app: Flask, letters: Callable[..., str]) -> None:
    wanted = letters()
    letters()
    assert ids(app, wanted) == [wanted]
    assert ids(app, f" {wanted.upper()} ") == [wanted]
    assert ids(app, wanted.replace("-", "")) == [wanted]
    assert ids(app, "00000000-0000-4000-8000-000000000000") == []


@pytest.mark.parametrize(
    "query",
    ["0612345678", "06 12 34 56 78", "06.12.34.56.78", "+212612345678", "+212 6 12 34 56 78", "00212612345678",
     "212612345678", "(+212) 612-345-678", "612345678"],
)  # fmt: skip
def test_the_recipient_mobile_in_any_usual_writing_finds_its_letters_newest_first(
    app: Flask, letters: Callable[..., str], query: str
) -> None:
    first = letters(recipient_phone="0612345678")
    letters(recipient_phone="0698765432")
    second = letters(recipient_phone="+212 612 345 678")
    assert ids(app, query) == [second, first]
    with app.app_context():
        assert {hit.matched_by for hit in find_letters(db.session, query)} == {MatchedBy.RECIPIENT_PHONE}


@pytest.mark.parametrize("query", ["061234567", "0612345", "612345", "+21261234567", "2126123456789", "0612345679"])
def test_part_of_a_number_or_a_neighbouring_number_matches_nothing(
    app: Flask, letters: Callable[..., str], query: str
) -> None:
    letters(recipient_phone="0612345678")
    assert ids(app, query) == []


def test_the_recipient_email_in_any_case_finds_its_letters(app: Flask, letters: Callable[..., str]) -> None:
    wanted = letters(recipient_email="Jane.Doe@Example.MA", channel="email")
    letters(recipient_email="jane.doe2@example.ma", channel="email")
    letters()
    with app.app_context():
        stored = db.session.get_one(Letter, wanted)
        # The address is kept as the sender wrote it (domain normalised); the search copy is folded.
        assert (stored.recipient_email, stored.recipient_email_normalised) == (
            "Jane.Doe@example.ma",
            "jane.doe@example.ma",
        )
    for query in ("jane.doe@example.ma", " JANE.DOE@EXAMPLE.MA ", "Jane.Doe@Example.MA"):
        assert ids(app, query) == [wanted], query
    with app.app_context():
        assert [hit.matched_by for hit in find_letters(db.session, "jane.doe@example.ma")] == [
            MatchedBy.RECIPIENT_EMAIL
        ]
    assert ids(app, "jane@example.ma") == []
    assert ids(app, "doe@example.ma") == []
    assert ids(app, "example.ma") == []


def test_the_sender_organisation_by_name_legal_name_or_ice_lists_its_newest_letters(
    app: Flask, make_sender: Callable[..., Sender], deposit: Callable[..., Any], clock: FrozenClock
) -> None:
    atlas = make_sender(org="Banque Atlas SA")
    idrissi = make_sender(org="Cabinet Idrissi")
    atlas_letters, idrissi_letters = [], []
    for _ in range(4):
        for who, bucket in ((atlas, atlas_letters), (idrissi, idrissi_letters)):
            clock.advance(60)
            response = deposit(as_sender=who)
            assert response.status_code == 201
            bucket.append(response.get_json()["id"])
    with app.app_context():
        org = db.session.get_one(Organisation, atlas.organisation_id)
        org.legal_name = "Banque Atlas Société Anonyme"  # its folded key follows it
        org.ice = "001525489000088"
        db.session.commit()
    newest_first = atlas_letters[::-1]
    for query in ("Banque Atlas SA", "banque atlas sa", "  BANQUE   ATLAS  SA ", "banque atlas SOCIÉTÉ anonyme"):
        assert ids(app, query) == newest_first, query
    assert ids(app, "001525489000088") == newest_first
    assert ids(app, "001 525 489 000 088") == newest_first
    assert ids(app, "Banque Atlas SA", limit=2) == newest_first[:2]
    assert ids(app, "cabinet idrissi") == idrissi_letters[::-1]
    with app.app_context():
        assert {hit.matched_by for hit in find_letters(db.session, "cabinet idrissi")} == {MatchedBy.ORGANISATION}
    # Part of a name: whole words or their starts (three letters at least), any case or accent.
    assert ids(app, "Banque Atlas") == newest_first
    assert ids(app, "atlas") == newest_first
    assert ids(app, "ATL") == newest_first
    assert ids(app, "societe") == newest_first  # the legal name's word, without its accents
    assert ids(app, "idris") == idrissi_letters[::-1]
    assert ids(app, "cab idr") == idrissi_letters[::-1]
    assert ids(app, "atlas idrissi") == []  # every word must be the same organisation's
    assert ids(app, "at") == []  # too short to be a start: whole words only
    assert ids(app, "tlas") == []  # a word's start, not its middle
    # A neighbouring ICE finds nothing.
    assert ids(app, "001525489000089") == []


def test_a_recipient_name_or_part_of_it_any_case_or_accent(app: Flask, letters: Callable[..., str]) -> None:
    salma = letters(recipient_name="Salma Bennani")
    youssef = letters(recipient_name="Youssef BENNANI")
    accented = letters(recipient_name="Hélène Benânni-Tazi")
    arabic = letters(recipient_name="سَلْمى بناني")
    letters(recipient_name="Omar Alami")
    assert ids(app, "Bennani") == [youssef, salma]  # newest first
    assert ids(app, "bennani") == [youssef, salma]
    assert ids(app, "Salma Bennani") == [salma]
    assert ids(app, "BENNANI salma") == [salma]  # any order
    assert ids(app, "  salma   BENNANI ") == [salma]
    assert ids(app, "helene") == [accented]
    assert ids(app, "Benanni Tazi") == [accented]
    assert ids(app, "tazi") == [accented]
    assert ids(app, "سلمى") == [arabic]  # short vowels aside
    assert ids(app, "Salma Alami") == []  # every word, on the same letter
    assert ids(app, "Benn") == []  # names: whole words (a caller spells a name, not half of it)
    with app.app_context():
        assert [hit.matched_by for hit in find_letters(db.session, "Salma Bennani")] == [MatchedBy.RECIPIENT_NAME]
    assert ids(app, "Bennani", limit=1) == [youssef]


def test_a_name_search_is_an_index_lookup_on_sqlite(
    app: Flask, settings: Settings, letters: Callable[..., str]
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; bench/support_search.py shows PostgreSQL's plans")
    letters(recipient_name="Salma Bennani")
    with app.app_context(), captured_statements(app) as statements:
        for query in ("Bennani", "Salma Bennani", "banque atl"):
            assert search_letters(db.session, query) != [], query
        searches = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
        name_reads = [(sql, p) for sql, p in searches if "name_words" in sql]
        assert len(name_reads) >= 4
        for sql, params in searches:
            plan = [row[3] for row in db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            details = " | ".join(plan)
            # (SCAN anon_1: counting the capped rows of the subquery, themselves read through the index)
            assert not any(line.startswith("SCAN") and not line.startswith("SCAN anon_") for line in plan), (
                sql,
                details,
            )
            assert "INDEX" in details or "PRIMARY KEY" in details, (sql, details)


def test_nothing_matches_nothing(app: Flask, letters: Callable[..., str]) -> None:
    letters(recipient_email="jane@example.ma", channel="email")
    for query in ("", "   ", "nobody", "ABCD-EFGH", "not-an-email@", "x" * 400, "%", "_"):
        assert ids(app, query) == [], query


@contextmanager
def captured_statements(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def test_every_kind_of_search_is_an_index_lookup_on_sqlite(
    app: Flask, settings: Settings, letters: Callable[..., str]
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; bench/support_search.py shows PostgreSQL's plans")
    letter_id = letters(recipient_email="jane@example.ma", channel="email")
    with app.app_context():
        reference = db.session.get_one(Letter, letter_id).reference
        with captured_statements(app) as statements:
            for query in (letter_id, reference, "0612345678", "jane@example.ma", "Banque Atlas SA"):
                assert search_letters(db.session, query) != [], query
        searches = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
        assert len(searches) >= 6  # id, reference, phone, email, organisation, the organisation's letters
        for sql, params in searches:
            plan = [row[3] for row in db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            details = " | ".join(plan)
            assert not any(line.startswith("SCAN") and not line.startswith("SCAN anon_") for line in plan), (
                sql,
                details,
            )
            assert "INDEX" in details or "PRIMARY KEY" in details, (sql, details)


def test_the_migration_fills_the_search_columns_of_existing_rows(
    app: Flask, letters: Callable[..., str], sender: Sender
) -> None:
    letter_id = letters(recipient_email="Jane.Doe@Example.MA", channel="email")
    with app.app_context():
        # Back to before the name words (5a13b0c0ffee).  Not further: since 5a0fb0c0ffee the documents
        # live in the object store, and a downgrade past it needs rows that still hold their ciphertext.
        downgrade(revision="5a0fb0c0ffee")
        db.session.remove()
        upgrade()
        db.session.remove()
        words = db.session.execute(select(LetterNameWord.word).where(LetterNameWord.letter_id == letter_id))
        assert sorted(words.scalars()) == ["alami", "alami youssef", "youssef"]  # 5a13b0c0ffee: words, pairs
        row = db.session.execute(select(Letter.recipient_email_normalised).where(Letter.id == letter_id)).one()
        assert row.recipient_email_normalised == "jane.doe@example.ma"
        org = db.session.execute(
            select(Organisation.name_key, Organisation.legal_name_key).where(Organisation.id == sender.organisation_id)
        ).one()
        assert tuple(org) == ("banque atlas sa", "banque atlas sa")
    assert ids(app, "jane.doe@example.ma") == [letter_id]


def test_the_checkpoint_sweep_reads_the_new_records_through_an_index(
    app: Flask, settings: Settings, letters: Callable[..., str], run_jobs: Callable[[], None]
) -> None:
    # Every few seconds the scheduler looks for records the log does not hold yet; it must not walk
    # the journal from its start.
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    letters()
    run_jobs()
    with app.app_context():
        write_checkpoint(db.session, current_services(), force=True)  # everything logged, as on a server at rest
        with captured_statements(app) as statements:
            assert write_checkpoint(db.session, current_services(), force=True) is None
        evidence_reads = [(sql, p) for sql, p in statements if "FROM evidence" in sql]
        assert evidence_reads
        for sql, params in evidence_reads:
            plan = " | ".join(
                row[3] for row in db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "USING INDEX" in plan, plan
            assert not plan.startswith("SCAN"), plan
