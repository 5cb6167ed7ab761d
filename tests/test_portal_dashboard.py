"""The portal's dashboard (issue 5, part 3): filters, search, pages, live rows over htmx, the charts
drawn as SVG on the server, and who may see what."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from tests.conftest import START, Sender
from tests.portal_helpers import ENGLISH, log_in
from tests.test_api_list import deposit_at
from tests.test_recipient import Flow, browser, choose
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.recipient import expire_overdue_letters
from webapp.letters.stats import month_starts
from webapp.models import MessagePurpose, OutboundMessage
from webapp.web.portal import letters as portal
from webapp.web.portal.charts import FUNNEL_WIDTH, Bar, Column, funnel_svg, stacked_columns_svg

SVG = "{http://www.w3.org/2000/svg}"
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/letters", **ENGLISH}
LETTER_LINK = re.compile(r'href="/letters/([0-9a-f-]{36})"')


# --- helpers -----------------------------------------------------------------------------------


def dashboard(client: FlaskClient, expect: int = 200, headers: dict[str, str] = ENGLISH, **params: str) -> Any:
    response = client.get("/letters", query_string=params, headers=headers)
    assert response.status_code == expect, response.text[:2000]
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.vary
    return response


def rows_of(html: str) -> str:
    match = re.search(r'<tbody id="letters-rows".*?</tbody>', html, re.S)
    assert match, html[:3000]
    return match.group(0)


def listed(client: FlaskClient, **params: str) -> list[str]:
    """The ids of the letters the dashboard lists, in order."""
    html = dashboard(client, **params).text
    return LETTER_LINK.findall(rows_of(html)) if 'id="letters-rows"' in html else []


def svg_of(html: str, chart_id: str) -> ET.Element:
    match = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.S)
    assert match, html[:3000]
    return ET.fromstring(match.group(0))  # noqa: S314 - our own markup, parsed to check it is well-formed


def bar_values(element: ET.Element) -> dict[str, int]:
    return {rect.attrib["data-key"]: int(rect.attrib["data-value"]) for rect in element.iter(f"{SVG}rect")}


def table_rows(html: str, table_id: str) -> list[list[str]]:
    match = re.search(rf'<table class="chart-data" id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert match, html[:3000]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", match.group(1))]


def set_delivered(app: Flask, *letter_ids: str) -> None:
    """The operator's receipt says the notification reached the phone."""
    with app.app_context():
        db.session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.letter_id.in_(letter_ids), OutboundMessage.purpose == MessagePurpose.NOTIFICATION)
            .values(delivery_status="delivered", delivered_at=datetime.now(UTC))
        )
        db.session.commit()
        db.session.remove()


def expire(app: Flask) -> int:
    with app.app_context():
        count = expire_overdue_letters(db.session, app.extensions["wassit"])
        db.session.remove()
    return count


@pytest.fixture
def flow(app: Flask, deposit: Any, run_jobs: Callable[[], None], outbox: Any) -> Flow:
    return Flow(app, deposit, run_jobs, outbox)


# --- the list, its filters and its search --------------------------------------------------------


def test_the_dashboard_lists_the_organisations_letters_newest_first_with_their_count(
    client: FlaskClient, sender: Sender, deposit: Any, clock: FrozenClock, make_sender: Callable[..., Sender]
) -> None:
    stranger = make_sender(org="Cabinet Benjelloun")
    mine = [deposit_at(deposit, clock, minute)["id"] for minute in range(3)]
    theirs = deposit(as_sender=stranger).json["id"]
    log_in(client, sender)
    html = dashboard(client).text
    assert LETTER_LINK.findall(rows_of(html)) == mine[::-1]
    assert theirs not in html
    assert "3 letters" in html
    assert "Youssef Alami" in html
    assert "+212612345678" in html


def test_an_empty_dashboard_invites_to_send_a_first_letter(client: FlaskClient, sender: Sender) -> None:
    log_in(client, sender)
    html = dashboard(client).text
    assert "No letter yet." in html
    assert 'id="letters-rows"' not in html


def test_the_dashboard_filters_by_status(
    client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Callable[[], None]
) -> None:
    notified = deposit().json["id"]
    run_jobs()
    deposited = deposit().json["id"]
    log_in(client, sender)
    assert listed(client, status="notified") == [notified]
    assert listed(client, status="deposited") == [deposited]
    html = dashboard(client, status="accepted").text
    assert "No letter matches these filters." in html
    assert "0 letters" in html
    assert '<option value="accepted" selected>' in html


def test_an_unknown_status_is_a_clear_error(client: FlaskClient, sender: Sender, deposit: Any) -> None:
    deposit()
    log_in(client, sender)
    html = dashboard(client, 422, status="lost").text
    assert "Choose a status from the list." in html
    assert 'id="letters-rows"' not in html


@pytest.mark.parametrize(
    "query",
    [
        "{reference}",
        "{reference_lower_no_dash}",
        "DOSSIER-77",
        "06 61 23 45 67",  # a national number, typed as it is written
        "+212661234567",
        "zahra",
        "FATIMA Z",
    ],
)
def test_the_search_finds_a_letter_by_each_kind_of_clue(
    client: FlaskClient, sender: Sender, deposit: Any, query: str
) -> None:
    found = deposit(recipient_phone="0661234567", recipient_name="Fatima Zahra Idrissi", sender_reference="DOSSIER-77")
    deposit(recipient_phone="0612345678", recipient_name="Youssef Alami", sender_reference="DOSSIER-78")
    reference = found.json["reference"]
    q = query.format(reference=reference, reference_lower_no_dash=reference.replace("-", "").lower())
    log_in(client, sender)
    assert listed(client, q=q) == [found.json["id"]]
    assert f'value="{q}"' in dashboard(client, q=q).text  # the box keeps what was typed


def test_the_search_never_finds_another_organisations_letter(
    client: FlaskClient, sender: Sender, deposit: Any, make_sender: Callable[..., Sender]
) -> None:
    stranger = make_sender(org="Cabinet Benjelloun")
    theirs = deposit(as_sender=stranger, recipient_name="Nadia Tazi", sender_reference="X-1").json
    log_in(client, sender)
    for q in (theirs["reference"], "Nadia", "X-1", "0612345678"):
        assert listed(client, q=q) == []


def test_the_dates_are_the_senders_local_days(
    client: FlaskClient, sender: Sender, deposit: Any, clock: FrozenClock
) -> None:
    # 23:30 UTC on 23 November is 00:30 on the 24th in Casablanca (UTC+1).
    on_the_23rd = deposit_at(deposit, clock, 60)["id"]  # 11:00 local time
    on_the_24th = deposit_at(deposit, clock, 13 * 60 + 30)["id"]  # 00:30 local time, the next day
    log_in(client, sender)
    assert listed(client, to="2026-11-23") == [on_the_23rd]
    assert listed(client, **{"from": "2026-11-24"}) == [on_the_24th]
    assert listed(client, **{"from": "2026-11-23", "to": "2026-11-24"}) == [on_the_24th, on_the_23rd]
    assert listed(client, **{"from": "24/11/2026"}) == [on_the_24th]  # as typed where no date picker
    assert listed(client, **{"from": "2026-11-25"}) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-01"}, "Enter a date as YYYY-MM-DD, for example 2026-03-31."),
        ({"to": "yesterday"}, "Enter a date as YYYY-MM-DD, for example 2026-03-31."),
        ({"to": "9999-12-31"}, "Enter a date as YYYY-MM-DD, for example 2026-03-31."),
        ({"from": "2026-11-24", "to": "2026-11-23"}, "The end date is before the start date."),
    ],
)
def test_bad_dates_are_refused_with_a_clear_message(
    client: FlaskClient, sender: Sender, deposit: Any, params: dict[str, str], message: str
) -> None:
    deposit()
    log_in(client, sender)
    html = dashboard(client, 422, **params).text
    assert message in html
    assert 'aria-invalid="true"' in html
    assert 'id="letters-rows"' not in html  # no list that would pretend to be filtered
    for name, value in params.items():
        assert f'name="{name}" value="{value}"' in html


def test_the_dashboard_is_paged(
    client: FlaskClient, sender: Sender, deposit: Any, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert portal.PAGE_SIZE == 50
    monkeypatch.setattr(portal, "PAGE_SIZE", 2)
    ids = [deposit_at(deposit, clock, minute, recipient_name="Salma Bennani")["id"] for minute in range(5)][::-1]
    deposit_at(deposit, clock, 10, recipient_name="Omar Chraibi")
    log_in(client, sender)
    first = dashboard(client, q="salma").text
    assert LETTER_LINK.findall(rows_of(first)) == ids[:2]
    assert "5 letters" in first
    assert 'Page <bdi dir="ltr">1</bdi> of <bdi dir="ltr">3</bdi>' in first
    assert 'href="/letters?q=salma&amp;page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    assert listed(client, q="salma", page="2") == ids[2:4]
    last = dashboard(client, q="salma", page="3").text
    assert LETTER_LINK.findall(rows_of(last)) == ids[4:]
    assert 'rel="next"' not in last
    assert 'href="/letters?q=salma&amp;page=2" rel="prev"' in last
    assert listed(client, q="salma", page="99") == ids[4:]  # past the end: the last page
    assert listed(client, q="salma", page="nonsense") == ids[:2]


# --- live rows over htmx -------------------------------------------------------------------------


def test_htmx_gets_the_rows_alone_and_a_browser_the_whole_page(
    client: FlaskClient, sender: Sender, deposit: Any
) -> None:
    deposit(sender_reference="A-1")
    log_in(client, sender)
    page = dashboard(client, q="A-1")
    assert page.text.lstrip().lower().startswith("<!doctype html>")
    partial = dashboard(client, headers=HTMX, q="A-1")
    assert partial.text.lstrip().startswith('<tbody id="letters-rows"')
    assert "</tbody>" in partial.text
    assert "<html" not in partial.text
    assert rows_of(partial.text) == rows_of(page.text)
    # The funnel comes with the rows, out of band, so that its counts never lag behind a row's status.
    assert '<section class="dash-charts" id="dash-charts"' in partial.text
    assert 'hx-swap-oob="true"' in partial.text
    restore = dashboard(client, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert restore.text.lstrip().lower().startswith("<!doctype html>")


def test_the_rows_poll_while_a_letter_may_change_and_stop_when_all_are_final(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    deposit: Any,
    run_jobs: Callable[[], None],
    clock: FrozenClock,
) -> None:
    deposit(sender_reference="A-1")
    run_jobs()
    log_in(client, sender)
    rows = rows_of(dashboard(client, q="A-1").text)
    assert 'hx-trigger="every 10s"' in rows
    assert 'hx-get="/letters?q=A-1&amp;page=1"' in rows  # the same filters and page
    assert 'hx-swap="outerHTML"' in rows

    clock.advance(app.extensions["wassit"].settings.acceptance_period + 1)
    assert expire(app) == 1
    polled = dashboard(client, headers=HTMX, q="A-1").text
    assert "Not collected" in polled
    assert "hx-trigger" not in polled
    assert "hx-get" not in polled


# --- the charts ----------------------------------------------------------------------------------


def test_the_charts_count_the_organisations_letters(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    flow: Flow,
    clock: FrozenClock,
    deposit: Any,
    make_sender: Callable[..., Sender],
) -> None:
    neglected = flow.letter(sender_reference="N")  # 23 November
    clock.advance(app.extensions["wassit"].settings.acceptance_period + 1)  # 8 December
    assert expire(app) == 1
    accepted = flow.letter(phone="0661234567")
    recipient = browser(app, "127.0.0.2")
    flow.identify(recipient, accepted)
    log_in(client, sender)
    assert "opened by the recipient" in rows_of(dashboard(client).text)  # the row says it, before any decision
    api = client.get(f"/api/v1/letters/{accepted.id}", headers=sender.auth).json
    assert api["opened_at"] is not None
    assert client.get(f"/api/v1/letters/{neglected.id}", headers=sender.auth).json["opened_at"] is None
    assert choose(recipient, accepted.path, "accept").status_code == 303
    refused = flow.letter(phone="0662345678")
    recipient = browser(app, "127.0.0.3")
    flow.identify(recipient, refused)
    assert choose(recipient, refused.path, "refuse").status_code == 200
    assert flow.status(refused) == "refused"
    notified = flow.letter(phone="0663456789")
    set_delivered(app, accepted.id, notified.id)
    assert deposit().status_code == 201  # still being notified
    stranger = make_sender(org="Cabinet Benjelloun")
    assert deposit(as_sender=stranger).status_code == 201  # never counted

    log_in(client, sender)
    html = dashboard(client).text
    expected = {
        "deposited": 5,
        "delivered": 2,
        "opened": 2,
        "accepted": 1,
        "refused": 1,
        "neglected": 1,
        "undeliverable": 0,
    }
    funnel = svg_of(html, "chart-funnel")
    assert funnel.attrib["role"] == "img"
    assert funnel.findtext(f"{SVG}title") == "Delivery funnel"
    assert bar_values(funnel) == expected
    assert funnel.findtext(f"{SVG}desc") == (
        "Deposited: 5; Delivered to the phone: 2; Opened (recipient identified): 2; Accepted: 1; Refused: 1;"
        " Not collected: 1; Undeliverable: 0"
    )
    assert [int(value) for _, value in table_rows(html, "funnel-data")] == list(expected.values())

    monthly = svg_of(html, "chart-monthly")
    assert monthly.findtext(f"{SVG}title") == "Letters deposited per month, January 2026 to December 2026"
    columns = {g.attrib["data-label"]: g for g in monthly.iter(f"{SVG}g")}
    assert list(columns)[-2:] == ["Nov", "Dec"]
    assert bar_values(columns["Nov"]) == {"neglected": 1}
    assert bar_values(columns["Dec"]) == {"in_progress": 2, "accepted": 1, "refused": 1}
    assert sum(int(g.attrib["data-total"]) for g in columns.values()) == 5
    months = {row[0]: row[1:] for row in table_rows(html, "monthly-data")}
    assert len(months) == 12
    # In progress, accepted, refused, not collected, undeliverable, total.
    assert months["November 2026"] == ["0", "0", "0", "1", "0", "1"]
    assert months["December 2026"] == ["2", "1", "1", "0", "0", "4"]
    assert months["January 2026"] == ["0"] * 6

    # The charts follow the period, not the status or the search.
    december = dashboard(client, **{"from": "2026-12-01"}, status="accepted", q="nobody").text
    assert bar_values(svg_of(december, "chart-funnel"))["deposited"] == 4
    assert bar_values(svg_of(december, "chart-funnel"))["neglected"] == 0
    november = dashboard(client, to="2026-11-30").text
    assert bar_values(svg_of(november, "chart-funnel")) == dict.fromkeys(expected, 0) | {
        "deposited": 1,
        "neglected": 1,
    }
    assert "December 2025 to November 2026" in november


def test_the_charts_read_right_to_left_in_arabic(client: FlaskClient, sender: Sender, deposit: Any) -> None:
    deposit()
    log_in(client, sender)
    html = client.get("/letters", headers={"Accept-Language": "ar"}).text
    funnel = svg_of(html, "chart-funnel")
    labels = [text for text in funnel.iter(f"{SVG}text") if text.attrib["class"] == "chart-label"]
    assert {label.attrib["direction"] for label in labels} == {"rtl"}
    values = [text for text in funnel.iter(f"{SVG}text") if text.attrib["class"] == "chart-value"]
    assert {value.attrib["direction"] for value in values} == {"ltr"}
    deposited = next(rect for rect in funnel.iter(f"{SVG}rect") if rect.attrib["data-key"] == "deposited")
    assert float(deposited.attrib["x"]) + float(deposited.attrib["width"]) < FUNNEL_WIDTH - 100  # from the right


# --- who may see what ----------------------------------------------------------------------------


def test_another_organisations_letter_its_live_part_and_proofs_are_404(
    app: Flask,
    client: FlaskClient,
    sender: Sender,
    deposit: Any,
    run_jobs: Callable[[], None],
    make_sender: Callable[..., Sender],
) -> None:
    created = deposit().json
    letter_id, reference = created["id"], created["reference"]
    run_jobs()
    owner = app.test_client()
    log_in(owner, sender)
    assert owner.get(f"/letters/{letter_id}/proofs/deposit", headers=ENGLISH).status_code == 200
    assert owner.get(f"/letters/{letter_id}", headers=HTMX).status_code == 200

    stranger = make_sender(org="Autre Société SARL")
    log_in(client, stranger)
    for headers in (ENGLISH, HTMX):
        response = client.get(f"/letters/{letter_id}", headers=headers)
        assert response.status_code == 404
        assert reference not in response.text
    assert listed(client, q=reference) == []
    for kind in ("deposit", "reception", "unknown"):
        assert client.get(f"/letters/{letter_id}/proofs/{kind}", headers=ENGLISH).status_code == 404
    assert listed(client) == []
    assert bar_values(svg_of(dashboard(client).text, "chart-funnel"))["deposited"] == 0


def test_the_dashboard_and_the_letter_page_need_a_log_in(client: FlaskClient, sender: Sender, deposit: Any) -> None:
    letter_id = deposit().json["id"]
    for path in ("/letters", f"/letters/{letter_id}", f"/letters/{letter_id}/proofs/deposit"):
        response = client.get(path, headers=HTMX)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


# --- the charts, as pure functions ---------------------------------------------------------------


def test_a_funnel_is_an_accessible_image_with_its_numbers() -> None:
    svg = funnel_svg(
        [Bar("deposited", "Deposited <all>", 40), Bar("accepted", "Accepted", 10), Bar("refused", "Refused", 0)],
        title="Funnel & co",
        chart_id="funnel",
        number=lambda n: f"{n:,}",
    )
    root = ET.fromstring(str(svg))  # noqa: S314 - our own markup
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-labelledby"] == "funnel-title funnel-desc"
    assert root.findtext(f"{SVG}title") == "Funnel & co"
    assert root.findtext(f"{SVG}desc") == "Deposited <all>: 40; Accepted: 10; Refused: 0"
    assert "style=" not in str(svg)
    widths = {rect.attrib["data-key"]: float(rect.attrib["width"]) for rect in root.iter(f"{SVG}rect")}
    assert widths["accepted"] == pytest.approx(widths["deposited"] / 4)
    assert widths["refused"] == 0
    assert next(rect.attrib["class"] for rect in root.iter(f"{SVG}rect")) == "chart-bar chart-deposited"


def test_a_funnel_right_to_left_is_the_mirror_image() -> None:
    bars = [Bar("deposited", "مودعة", 8), Bar("accepted", "مقبولة", 2)]
    ltr = ET.fromstring(str(funnel_svg(bars, title="t", chart_id="f")))  # noqa: S314
    rtl = ET.fromstring(str(funnel_svg(bars, title="t", chart_id="f", rtl=True)))  # noqa: S314
    for left, right in zip(ltr.iter(f"{SVG}rect"), rtl.iter(f"{SVG}rect"), strict=True):
        mirrored = FUNNEL_WIDTH - float(left.attrib["x"]) - float(left.attrib["width"])
        assert float(right.attrib["x"]) == pytest.approx(mirrored)
    assert {t.attrib["direction"] for t in rtl.iter(f"{SVG}text") if t.attrib["class"] == "chart-value"} == {"ltr"}


def test_an_empty_funnel_draws_no_bar_and_divides_by_nothing() -> None:
    root = ET.fromstring(str(funnel_svg([Bar("deposited", "Deposited", 0)], title="t", chart_id="f")))  # noqa: S314
    assert [rect.attrib["width"] for rect in root.iter(f"{SVG}rect")] == ["0"]


def test_stacked_columns_stack_their_segments_and_total_them() -> None:
    columns = [Column("Jan", [("accepted", 3), ("refused", 1)]), Column("Feb", [("accepted", 0), ("refused", 2)])]
    svg = stacked_columns_svg(columns, {"accepted": "Accepted", "refused": "Refused"}, title="Months", chart_id="m")
    root = ET.fromstring(str(svg))  # noqa: S314
    assert root.findtext(f"{SVG}desc") == "Jan: 4 (Accepted 3, Refused 1); Feb: 2 (Refused 2)"
    groups = [g for g in root.iter(f"{SVG}g")]
    assert [(g.attrib["data-label"], g.attrib["data-total"]) for g in groups] == [("Jan", "4"), ("Feb", "2")]
    accepted, refused = groups[0].iter(f"{SVG}rect")
    # The second segment sits on the first, a third of its height.
    assert float(refused.attrib["y"]) + float(refused.attrib["height"]) == pytest.approx(float(accepted.attrib["y"]))
    assert float(refused.attrib["height"]) == pytest.approx(float(accepted.attrib["height"]) / 3)
    assert [r.attrib["data-key"] for r in groups[1].iter(f"{SVG}rect")] == ["refused"]  # no empty segment
    rtl = ET.fromstring(str(stacked_columns_svg(columns, {}, title="t", chart_id="m", rtl=True)))  # noqa: S314
    first = next(g for g in rtl.iter(f"{SVG}g") if g.attrib["data-label"] == "Jan")
    assert float(next(first.iter(f"{SVG}rect")).attrib["x"]) > 320  # the oldest month on the right


def test_twelve_months_end_with_the_given_one() -> None:
    months = month_starts(datetime(2026, 2, 14, tzinfo=UTC).date())
    assert len(months) == 12
    assert (months[0].isoformat(), months[-1].isoformat()) == ("2025-03-01", "2026-02-01")
    assert all(day.day == 1 for day in months)


def test_the_first_moment_of_a_local_day_is_an_hour_earlier_in_utc() -> None:
    midnight = portal._local_midnight(START.date() + timedelta(days=1))
    assert midnight.astimezone(UTC) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
