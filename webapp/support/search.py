"""Find a letter from what a caller can tell an agent: its reference, id, the recipient's mobile or email,
or the sender organisation.

Every interpretation is an exact match on an indexed column, normalised the way
the deposit normalised what it stored, so that a search costs a few index
look-ups whatever the number of letters (see `bench/support_search.py`): no
`LIKE`, no partial numbers (a caller reading half a number must not be shown a
stranger's letter).
"""

from __future__ import annotations

import contextlib
import enum
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select

from webapp.accounts.errors import InvalidIce
from webapp.accounts.signup import normalise_ice
from webapp.extensions import DbSession
from webapp.letters.deposit import clean_email, parse_mobile_number
from webapp.letters.errors import InvalidInput
from webapp.letters.recipient import normalise_reference
from webapp.models import Letter, Organisation
from webapp.models.letter import normalised_email
from webapp.models.organisation import organisation_name_key

MAX_LIMIT = 200
_DIGITS = re.compile(r"\d+")


class MatchedBy(enum.StrEnum):
    """Which field of the letter the query matched."""

    ID = "id"
    REFERENCE = "reference"
    RECIPIENT_PHONE = "recipient_phone"
    RECIPIENT_EMAIL = "recipient_email"
    ORGANISATION = "organisation"


@dataclass(frozen=True)
class SearchHit:
    letter: Letter
    matched_by: MatchedBy


def search_letters(session: DbSession, query: str, *, limit: int = 50) -> list[Letter]:
    """Letters matching `query` exactly (normalised like the deposit does), newest first."""
    return [hit.letter for hit in find_letters(session, query, limit=limit)]


def find_letters(session: DbSession, query: str, *, limit: int = 50) -> list[SearchHit]:
    """`search_letters`, with the field each letter matched; newest first, at most `limit` (≤ 200)."""
    query = (query or "").strip()
    limit = max(1, min(limit, MAX_LIMIT))
    if not query or len(query) > 320:
        return []
    hits: dict[str, SearchHit] = {}
    for matched_by, condition in _letter_conditions(query):
        for letter in _newest(session, condition, limit):
            hits.setdefault(letter.id, SearchHit(letter, matched_by))
    for organisation_id in _organisation_ids(session, query):
        for letter in _newest(session, Letter.organisation_id == organisation_id, limit):
            hits.setdefault(letter.id, SearchHit(letter, MatchedBy.ORGANISATION))
    ordered = sorted(hits.values(), key=lambda hit: (hit.letter.deposited_at, hit.letter.id), reverse=True)
    return ordered[:limit]


def _newest(session: DbSession, condition: ColumnElement[bool], limit: int) -> list[Letter]:
    statement = select(Letter).where(condition).order_by(Letter.deposited_at.desc(), Letter.id.desc()).limit(limit)
    return list(session.execute(statement).scalars())


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


def _organisation_ids(session: DbSession, query: str) -> list[str]:
    """Organisations whose name, legal name (any case) or ICE is exactly the query."""
    conditions: list[ColumnElement[bool]] = []
    key = organisation_name_key(query)
    if key is not None:
        conditions += [Organisation.name_key == key, Organisation.legal_name_key == key]
    with contextlib.suppress(InvalidIce):
        conditions.append(Organisation.ice == normalise_ice(query))
    if not conditions:
        return []
    statement = select(Organisation.id).where(or_(*conditions)).order_by(Organisation.id)
    return list(session.execute(statement).scalars())
