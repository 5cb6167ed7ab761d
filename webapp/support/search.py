"""Find a letter from what a caller can tell an agent: its reference, id, the recipient's mobile, email
or name, or the sender organisation.

Every interpretation is an index look-up, so that a search costs the same whatever the number of
letters (see `bench/support_search.py`):

- the reference, id, mobile and email are exact matches on indexed columns, normalised the way the
  deposit normalised what it stored: no partial numbers (a caller reading half a number must not be
  shown a stranger's letter);
- a name is matched word by word, without accents or case (`webapp.models.names`): "Bennani",
  "salma bennani" and "BENNANI Salma" all find "Salma Bennani", through the (word, deposit time)
  index of `letter_name_words`, newest first;
- an organisation is found by its exact name or ICE, or by the starts of its names' words
  ("idriss" finds "Cabinet Idrissi") through the index of `organisation_name_words`.

The same tables and indexes serve SQLite and PostgreSQL: no extension, no `LIKE '%…%'` scan.
"""

from __future__ import annotations

import contextlib
import enum
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import aliased

from webapp.accounts.errors import InvalidIce
from webapp.accounts.signup import normalise_ice
from webapp.extensions import DbSession
from webapp.letters.deposit import clean_email, parse_mobile_number
from webapp.letters.errors import InvalidInput
from webapp.letters.recipient import normalise_reference
from webapp.models import Letter, LetterNameWord, Organisation, OrganisationNameWord
from webapp.models.letter import normalised_email
from webapp.models.names import name_words, word_pair
from webapp.models.organisation import organisation_name_key

MAX_LIMIT = 200
_DIGITS = re.compile(r"\d+")
# A name query's words beyond these are ignored; an organisation's word start must be this long.
MAX_NAME_WORDS = 4
MIN_PREFIX = 3
# Organisations whose names start like the query: their newest letters are shown (the rest: be precise).
MAX_ORGANISATIONS = 10
ORGANISATION_WORD_CAP = 500  # organisations read for one word of the query


class MatchedBy(enum.StrEnum):
    """Which field of the letter the query matched."""

    ID = "id"
    REFERENCE = "reference"
    RECIPIENT_PHONE = "recipient_phone"
    RECIPIENT_EMAIL = "recipient_email"
    RECIPIENT_NAME = "recipient_name"
    ORGANISATION = "organisation"


# A query that reads as one of these names a letter, not a person: it is not read as a name too.
_EXACT_ONLY = frozenset({MatchedBy.ID, MatchedBy.RECIPIENT_PHONE, MatchedBy.RECIPIENT_EMAIL})


@dataclass(frozen=True)
class SearchHit:
    letter: Letter
    matched_by: MatchedBy


def search_letters(session: DbSession, query: str, *, limit: int = 50) -> list[Letter]:
    """Letters matching `query` exactly (normalised like the deposit does), newest first."""
    return [hit.letter for hit in find_letters(session, query, limit=limit)]


def find_letters(session: DbSession, query: str, *, limit: int = 50) -> list[SearchHit]:
    """`search_letters`, with the field each letter matched; newest first, at most `limit` (≤ 200).

    Every reading of the query gives (id, deposit time) pairs, read from indexes; only the newest
    `limit` of them are then loaded as letters."""
    query = (query or "").strip()
    limit = max(1, min(limit, MAX_LIMIT))
    if not query or len(query) > 320:
        return []
    found: dict[str, tuple[datetime, MatchedBy]] = {}

    def note(rows: Iterable[tuple[str, datetime]], matched_by: MatchedBy) -> None:
        for letter_id, deposited_at in rows:
            found.setdefault(letter_id, (deposited_at, matched_by))

    conditions = _letter_conditions(query)
    for matched_by, condition in conditions:
        note(_newest(session, condition, limit), matched_by)
    exact = any(kind in _EXACT_ONLY for kind, _ in conditions)
    if len(found) < limit and not exact:
        note(recipient_name_matches(session, query, limit), MatchedBy.RECIPIENT_NAME)
    for organisation_id in _organisation_ids(session, query, by_words=not exact):
        note(_newest(session, Letter.organisation_id == organisation_id, limit), MatchedBy.ORGANISATION)
    newest = sorted(found, key=lambda letter_id: (found[letter_id][0], letter_id), reverse=True)[:limit]
    if not newest:
        return []
    letters = {letter.id: letter for letter in session.execute(select(Letter).where(Letter.id.in_(newest))).scalars()}
    return [SearchHit(letters[letter_id], found[letter_id][1]) for letter_id in newest if letter_id in letters]


def _newest(session: DbSession, condition: ColumnElement[bool], limit: int) -> list[tuple[str, datetime]]:
    statement = (
        select(Letter.id, Letter.deposited_at)
        .where(condition)
        .order_by(Letter.deposited_at.desc(), Letter.id.desc())
        .limit(limit)
    )
    return [(row.id, row.deposited_at) for row in session.execute(statement)]


def _letter_conditions(query: str) -> list[tuple[MatchedBy, ColumnElement[bool]]]:
    """Every reading of the query that can name letters directly, each an indexed equality."""
    conditions: list[tuple[MatchedBy, ColumnElement[bool]]] = []
    letter_id = _letter_id(query)
    if letter_id is not None:
        conditions.append((MatchedBy.ID, Letter.id == letter_id))
    reference = normalise_reference(query)
    if reference is not None:
        conditions.append((MatchedBy.REFERENCE, Letter.reference == reference))
    phone = mobile_number(query)
    if phone is not None:
        conditions.append((MatchedBy.RECIPIENT_PHONE, Letter.recipient_phone == phone))
    email = email_address(query)
    if email is not None:
        conditions.append((MatchedBy.RECIPIENT_EMAIL, Letter.recipient_email_normalised == email))
    return conditions


def _letter_id(query: str) -> str | None:
    try:
        return str(uuid.UUID(query))  # ids are stored as `str(uuid4())`: lower case, with hyphens
    except ValueError:
        return None


def mobile_number(query: str) -> str | None:
    """The query as an E.164 mobile number, read like the deposit reads one (national `06…`, `+212…`,
    `00212…`, and `212…` without its plus); None if it is not a whole, valid mobile number."""
    candidates = [query]
    digits = "".join(_DIGITS.findall(query))
    if digits.startswith("212") and not query.lstrip().startswith(("+", "0")):
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            return parse_mobile_number(candidate)
        except InvalidInput:
            continue
    return None


def email_address(query: str) -> str | None:
    """The query as a recipient email, normalised like `Letter.recipient_email_normalised`."""
    if "@" not in query:
        return None
    try:
        return normalised_email(clean_email(query))
    except InvalidInput:
        return None


def recipient_name_letter_ids(session: DbSession, query: str, limit: int) -> list[str]:
    """The ids of `recipient_name_matches`."""
    return [letter_id for letter_id, _at in recipient_name_matches(session, query, limit)]


def recipient_name_matches(session: DbSession, query: str, limit: int) -> list[tuple[str, datetime]]:
    """The newest letters whose recipient's name has every word of the query (folded), at most `limit`,
    as (id, deposit time), read from the (word, deposited_at, letter_id) index alone.

    One word is one ordered range of the index; two words are one too, their pair being indexed
    ("bennani salma", `models.names.name_keys`), so that a rare pair of common words reads no more
    than its own letters.  A third or fourth word is a seek into the same index at each candidate's
    (word, deposited_at, letter_id), in deposit order."""
    words = name_words(query)[:MAX_NAME_WORDS]
    if not words:
        return []
    lead = words[0] if len(words) == 1 else word_pair(words[0], words[1])
    statement = select(LetterNameWord.letter_id, LetterNameWord.deposited_at).where(LetterNameWord.word == lead)
    for other in words[2:]:
        also = aliased(LetterNameWord)
        statement = statement.where(
            exists().where(
                and_(
                    also.word == other,
                    also.deposited_at == LetterNameWord.deposited_at,
                    also.letter_id == LetterNameWord.letter_id,
                )
            )
        )
    statement = statement.order_by(LetterNameWord.deposited_at.desc(), LetterNameWord.letter_id.desc()).limit(limit)
    return [(row.letter_id, row.deposited_at) for row in session.execute(statement)]


def _organisation_ids(session: DbSession, query: str, *, by_words: bool = True) -> list[str]:
    """Organisations whose name, legal name (any case) or ICE is exactly the query, then those whose
    names have words starting with each word of the query (accents and case aside)."""
    conditions: list[ColumnElement[bool]] = []
    key = organisation_name_key(query)
    if key is not None:
        conditions += [Organisation.name_key == key, Organisation.legal_name_key == key]
    with contextlib.suppress(InvalidIce):
        conditions.append(Organisation.ice == normalise_ice(query))
    found: list[str] = []
    if conditions:
        statement = select(Organisation.id).where(or_(*conditions)).order_by(Organisation.id)
        found = list(session.execute(statement).scalars())
    for organisation_id in organisations_named_like(session, query) if by_words else []:
        if organisation_id not in found:
            found.append(organisation_id)
    return found[:MAX_ORGANISATIONS]


def organisations_named_like(session: DbSession, query: str) -> list[str]:
    """Organisations with a name word starting with each word of the query ("cab idris" finds
    "Cabinet Idrissi"); words shorter than MIN_PREFIX must be whole words.  At most MAX_ORGANISATIONS."""
    words = name_words(query)[:MAX_NAME_WORDS]
    if not words or all(len(word) < MIN_PREFIX for word in words):
        return []
    conditions = [
        _word_starts(word) if len(word) >= MIN_PREFIX else OrganisationNameWord.word == word for word in words
    ]
    # Each word's organisations, up to a cap; the words under the cap give the candidates, and the
    # others (a common word such as "cabinet") are checked on those candidates only.
    bounded: list[set[str]] = []
    common: list[ColumnElement[bool]] = []
    for condition in conditions:
        ids = set(
            session.execute(
                select(OrganisationNameWord.organisation_id).where(condition).limit(ORGANISATION_WORD_CAP + 1)
            ).scalars()
        )
        if not ids:
            return []
        if len(ids) > ORGANISATION_WORD_CAP:
            common.append(condition)
        else:
            bounded.append(ids)
    if not bounded:
        return []  # every word is common: too vague to list anyone
    candidates = set.intersection(*bounded)
    for condition in common:
        if not candidates:
            break
        candidates = set(
            session.execute(
                select(OrganisationNameWord.organisation_id).where(
                    condition, OrganisationNameWord.organisation_id.in_(sorted(candidates))
                )
            ).scalars()
        )
    return sorted(candidates)[:MAX_ORGANISATIONS]


def _word_starts(prefix: str) -> ColumnElement[bool]:
    """`word` starts with `prefix`, as a range of the index (folded words hold letters and digits only,
    so the next code point after the prefix's last one bounds them in any collation)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(OrganisationNameWord.word >= prefix, OrganisationNameWord.word < upper)
