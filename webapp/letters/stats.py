"""What became of an organisation's letters, counted by the database: the delivery funnel and the
monthly volume the dashboard draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from webapp.extensions import DbSession
from webapp.letters.queries import LetterFilter, filter_conditions
from webapp.letters.states import Event, LetterStatus
from webapp.models import Evidence, Letter, MessagePurpose, OutboundMessage

FUNNEL_STAGES = ("deposited", "delivered", "opened", "accepted", "refused", "neglected", "undeliverable")
# How a month's letters are split: still under way, or their outcome.
OUTCOMES = ("in_progress", "accepted", "refused", "neglected", "undeliverable")
MONTHS_SHOWN = 12


@dataclass(frozen=True)
class Funnel:
    """Letters deposited, how many reached the phone (operator receipt), were opened (the recipient
    identified), and each outcome."""

    deposited: int = 0
    delivered: int = 0
    opened: int = 0
    accepted: int = 0
    refused: int = 0
    neglected: int = 0
    undeliverable: int = 0

    def stages(self) -> list[tuple[str, int]]:
        return [(stage, getattr(self, stage)) for stage in FUNNEL_STAGES]


@dataclass(frozen=True)
class MonthVolume:
    """The letters deposited in one month (local time), by outcome."""

    month: date  # the first day of the month
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def outcome_of(status: LetterStatus) -> str:
    return "in_progress" if status in {LetterStatus.DEPOSITED, LetterStatus.NOTIFIED} else status.value


def delivery_funnel(session: DbSession, organisation_id: str, filters: LetterFilter) -> Funnel:
    """The funnel of the letters `filters` selects: one pass over them, grouped by status, each
    letter asking the indexes whether a notification reached the phone and whether it was opened."""
    delivered = exists().where(
        OutboundMessage.letter_id == Letter.id,
        OutboundMessage.purpose != MessagePurpose.CODE,
        OutboundMessage.delivery_status == "delivered",
    )
    opened = exists().where(Evidence.letter_id == Letter.id, Evidence.event == Event.RECIPIENT_IDENTIFICATION.value)
    rows = session.execute(
        select(
            Letter.status,
            func.count(),
            func.sum(case((delivered, 1), else_=0)),
            func.sum(case((opened, 1), else_=0)),
        )
        .where(*filter_conditions(organisation_id, filters))
        .group_by(Letter.status)
    ).all()
    by_status = {status: int(count) for status, count, _, _ in rows}
    return Funnel(
        deposited=sum(by_status.values()),
        delivered=sum(int(count) for _, _, count, _ in rows),
        opened=sum(int(count) for _, _, _, count in rows),
        accepted=by_status.get(LetterStatus.ACCEPTED, 0),
        refused=by_status.get(LetterStatus.REFUSED, 0),
        neglected=by_status.get(LetterStatus.NEGLECTED, 0),
        undeliverable=by_status.get(LetterStatus.UNDELIVERABLE, 0),
    )


def month_starts(last_month: date, count: int = MONTHS_SHOWN) -> list[date]:
    """The first days of the `count` months ending with `last_month`'s, oldest first."""
    year, month = last_month.year, last_month.month
    starts = []
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def monthly_volume(
    session: DbSession, organisation_id: str, filters: LetterFilter, *, now: datetime, zone: ZoneInfo
) -> list[MonthVolume]:
    """Letters deposited in each of the last 12 months (in `zone`'s calendar), by outcome.

    The 12 months end with the month of the period's end (`filters.deposited_before`) or of
    `now`; only the letters `filters` selects are counted."""
    end = filters.deposited_before - timedelta(microseconds=1) if filters.deposited_before else now
    months = month_starts(end.astimezone(zone).date())
    edges = [datetime.combine(m, time(), tzinfo=zone) for m in [*months, _next_month(months[-1])]]
    # Each letter's month as an index, from the months' UTC edges: the same SQL on every database.
    month_index: ColumnElement[int] = case(
        *((Letter.deposited_at < edge, index) for index, edge in enumerate(edges[1:])),
        else_=len(months),
    )
    # Grouped in an outer query: PostgreSQL would not see that two renderings of the CASE, each
    # with its own bound parameters, are the same expression.
    dated = (
        select(month_index.label("month_index"), Letter.status.label("status"))
        .where(
            *filter_conditions(organisation_id, filters),
            Letter.deposited_at >= edges[0],
            Letter.deposited_at < edges[-1],
        )
        .subquery()
    )
    rows = session.execute(
        select(dated.c.month_index, dated.c.status, func.count()).group_by(dated.c.month_index, dated.c.status)
    ).all()
    volumes = [MonthVolume(month, dict.fromkeys(OUTCOMES, 0)) for month in months]
    for index, status, count in rows:
        volumes[index].counts[outcome_of(status)] += count
    return volumes
