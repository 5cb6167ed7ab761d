"""Which of an organisation's letters a list shows: the filters and the search shared by the
portal's dashboard, the JSON API's lists and the dashboard's statistics, and the pages of
letters (as `letters.read` gives them) that the API answers."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from webapp.extensions import DbSession
from webapp.letters.deposit import parse_mobile_number
from webapp.letters.errors import InvalidPhoneNumber
from webapp.letters.read import LetterView, SenderActor, summary_of
from webapp.letters.states import Event, LetterStatus
from webapp.models import Batch, BatchRow, Evidence, Letter

SEARCH_MAX_LENGTH = 200
# Newest first; the id breaks ties between letters deposited at the same instant.
NEWEST_FIRST = (Letter.deposited_at.desc(), Letter.id.desc())


@dataclass(frozen=True)
class LetterFilter:
    """What the sender asked to see; empty fields select everything."""

    statuses: tuple[LetterStatus, ...] = ()
    deposited_from: datetime | None = None  # inclusive
    deposited_before: datetime | None = None  # exclusive
    search: str = ""

    def dates_only(self) -> LetterFilter:
        """The same deposit period, without the status and the search (what the charts count)."""
        return LetterFilter(deposited_from=self.deposited_from, deposited_before=self.deposited_before)


def search_condition(q: str) -> ColumnElement[bool]:
    """Our reference (with or without its dash, any case), the sender's own reference, the
    recipient's number written any usual way, or part of the recipient's name (any case)."""
    conditions: list[ColumnElement[bool]] = [Letter.sender_reference == q]
    compact = re.sub(r"[\s-]", "", q).upper()
    if len(compact) == 8 and compact.isalnum():
        conditions.append(Letter.reference == f"{compact[:4]}-{compact[4:]}")
    with contextlib.suppress(InvalidPhoneNumber):
        conditions.append(Letter.recipient_phone == parse_mobile_number(q))
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    conditions.append(Letter.recipient_name.ilike(f"%{escaped}%", escape="\\"))
    return or_(*conditions)


def filter_conditions(organisation_id: str, filters: LetterFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses selecting the organisation's letters that `filters` asks for."""
    conditions: list[ColumnElement[bool]] = [Letter.organisation_id == organisation_id]
    if filters.statuses:
        conditions.append(Letter.status.in_(filters.statuses))
    if filters.deposited_from is not None:
        conditions.append(Letter.deposited_at >= filters.deposited_from)
    if filters.deposited_before is not None:
        conditions.append(Letter.deposited_at < filters.deposited_before)
    search = filters.search.strip()
    if search:
        conditions.append(search_condition(search))
    return conditions


def organisation_letters(organisation_id: str, filters: LetterFilter) -> Select[Letter]:
    """The organisation's letters that `filters` selects, newest first."""
    return select(Letter).where(*filter_conditions(organisation_id, filters)).order_by(*NEWEST_FIRST)


def after_position(deposited_at: datetime, letter_id: str) -> ColumnElement[bool]:
    """Letters after this one in newest-first order (keyset pagination)."""
    return or_(Letter.deposited_at < deposited_at, and_(Letter.deposited_at == deposited_at, Letter.id < letter_id))


def dashboard_page(
    session: DbSession, organisation_id: str, filters: LetterFilter, *, page: int, size: int
) -> list[Letter]:
    """One page of the organisation's letters, newest first (the portal's dashboard)."""
    query = organisation_letters(organisation_id, filters).limit(size).offset((page - 1) * size)
    return list(session.execute(query).scalars())


def opened_letter_ids(session: DbSession, letter_ids: list[str]) -> set[str]:
    """Those of the letters whose recipient identified (opened the letter), from their evidence records."""
    if not letter_ids:
        return set()
    rows = session.execute(
        select(Evidence.letter_id).where(
            Evidence.letter_id.in_(letter_ids), Evidence.event == Event.RECIPIENT_IDENTIFICATION.value
        )
    ).scalars()
    return set(rows)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """The items of one page of a list, and whether more follow them."""

    items: tuple[T, ...]
    more: bool


def letters_page(
    session: DbSession,
    actor: SenderActor,
    filters: LetterFilter,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> Page[LetterView]:
    """A page of the sender's organisation's letters that `filters` selects, newest first, after
    the position (deposit time, id) of the previous page's last letter."""
    query = organisation_letters(actor.user.organisation_id, filters)
    if after is not None:
        query = query.where(after_position(*after))
    letters = list(session.execute(query.limit(limit + 1)).scalars())
    return Page(tuple(summary_of(letter, actor) for letter in letters[:limit]), len(letters) > limit)


class NumberedLetter(NamedTuple):
    """A letter of a batch and the CSV line it came from."""

    row: int
    letter: LetterView


def batch_letters_page(
    session: DbSession, actor: SenderActor, batch: Batch, *, limit: int, after_row: int = 0
) -> Page[NumberedLetter]:
    """A page of the batch's letters in the CSV's order, after line `after_row`.  The batch is one
    the caller found the actor's (`letters.bulk.batch_for_organisation`)."""
    rows = session.execute(
        select(BatchRow.row_number, Letter)
        .join(Letter, Letter.id == BatchRow.letter_id)
        .where(
            BatchRow.batch_id == batch.id,
            BatchRow.row_number > after_row,
            Letter.organisation_id == actor.user.organisation_id,
        )
        .order_by(BatchRow.row_number)
        .limit(limit + 1)
    ).all()
    return Page(
        tuple(NumberedLetter(number, summary_of(letter, actor)) for number, letter in rows[:limit]), len(rows) > limit
    )


def count_letters(session: DbSession, organisation_id: str, filters: LetterFilter) -> int:
    """How many letters `filters` selects, counted by the database."""
    total = session.execute(
        select(func.count()).select_from(Letter).where(*filter_conditions(organisation_id, filters))
    ).scalar_one()
    return int(total)


def names_shown_publicly(session: DbSession, letter_ids: Iterable[object]) -> set[str]:
    """Of these letters, those whose document name a public page may show.

    A name the sender marked confidential (on the letter, or on the batch it came
    in) is shown to no one but the sender; nor is the name a record claims for a
    letter we do not hold (a forged record): only known, non-confidential letters
    are in the answer."""
    wanted = {letter_id for letter_id in letter_ids if isinstance(letter_id, str)}
    if not wanted:
        return set()
    rows = session.execute(
        select(Letter.id)
        .outerjoin(Batch, Batch.id == Letter.batch_id)
        .where(
            Letter.id.in_(wanted),
            Letter.document_confidential.is_(False),
            or_(Batch.id.is_(None), Batch.document_confidential.is_(False)),
        )
    ).scalars()
    return set(rows)
