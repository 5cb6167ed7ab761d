"""The recipient pages through the test client (issue 2 §6–§7, DESIGN.md §3 and §5).

Pages are read in English (the `lang` cookie) so that the assertions on messages do
not depend on the French catalogue, which other work translates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.http import parse_options_header

from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.recipient import expire_overdue_letters
from webapp.models import Evidence, Letter, OneTimeCode, OutboundMessage
from webapp.notify.texts import MOROCCO
from webapp.queue import every_queue
from webapp.trust.evidence import isoformat_utc

SENDER_NAME = "Banque Atlas SA"
EXPIRED_MESSAGE = "This letter can no longer be opened"
ALREADY_ANSWERED = "You have already answered"


# --- helpers -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """A notified letter as its recipient knows it: the path of the SMS link."""

    id: str
    reference: str
    phone: str
    path: str


def link_path(sms_text: str) -> str:
    match = re.search(r"https://wassit\.ma(/l/[A-Za-z0-9_-]+)", sms_text)
    assert match, sms_text
    return match.group(1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def code_of(sms_text: str) -> str:
    match = re.search(r"\b(\d{6})\b", sms_text)
    assert match, sms_text
    return match.group(1)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def attempts_left(html: str) -> int:
    """The tries left for the code, as the page's alert tells it."""
    match = re.search(r'role="alert">([^<]*)<', html)
    assert match, html[:2000]
    [count] = re.findall(r"\d+", match.group(1))
    return int(count)


def wrong_code(*live: str) -> str:
    """A well-formed code that is none of the live ones."""
    return next(candidate for candidate in ("000000", "111111", "222222", "333333") if candidate not in live)


def browser(app: Flask, address: str = "127.0.0.1") -> FlaskClient:
    """A fresh test client: its own cookie jar (session), English pages, its own IP address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.set_cookie("lang", "en")
    return client


def csrf_for(client: FlaskClient, path: str) -> str:
    """A CSRF token for this browser, read from the code page (a GET, which changes nothing)."""
    return csrf_of(client.get(f"{path}/code").text)


def ask_code(client: FlaskClient, path: str, token: str | None = None) -> Any:
    return client.post(f"{path}/code", data={"csrf_token": token or csrf_for(client, path)})


def type_code(client: FlaskClient, path: str, code: str, token: str | None = None) -> Any:
    return client.post(f"{path}/code/check", data={"csrf_token": token or csrf_for(client, path), "code": code})


def choose(client: FlaskClient, path: str, decision: str, reason: str | None = None, token: str | None = None) -> Any:
    if token is None:
        page = client.get(f"{path}/decision")
        token = csrf_of(page.text) if 'name="csrf_token"' in page.text else csrf_for(client, path)
    data = {"csrf_token": token, "decision": decision}
    if reason is not None:
        data["reason"] = reason
    return client.post(f"{path}/decision", data=data)


class Flow:
    """Deposits letters, works the queue and reads the SMS outbox."""

    def __init__(self, app: Flask, deposit: Any, run_jobs: Callable[[], None], outbox: Any) -> None:
        self.app, self._deposit, self.run_jobs, self.outbox = app, deposit, run_jobs, outbox

    def letter(self, phone: str = "0612345678", **fields: Any) -> Delivered:
        created = self._deposit(recipient_phone=phone, **fields)
        assert created.status_code == 201, created.json
        self.run_jobs()
        body = created.json
        [sms] = [m for m in self.outbox() if body["reference"] in m["text"]]
        return Delivered(body["id"], body["reference"], body["recipient"]["phone"], link_path(sms["text"]))

    def new_code(self, client: FlaskClient, letter: Delivered, token: str | None = None) -> str:
        """Asks for a code and returns the one the SMS brought."""
        before = len(self.outbox())
        response = ask_code(client, letter.path, token)
        assert response.status_code == 303, response.text[:1000]
        self.run_jobs()
        sent = self.outbox()[before:]
        assert len(sent) == 1
        assert sent[0]["to"] == letter.phone
        return code_of(sent[0]["text"])

    def identify_again(self, client: FlaskClient, letter: Delivered) -> None:
        """Identifies for an accepted letter: the code leads to the letter's page."""
        response = type_code(client, letter.path, self.new_code(client, letter))
        assert response.status_code == 303, response.text[:1000]
        assert response.headers["Location"].endswith(f"{letter.path}/letter")

    def identify(self, client: FlaskClient, letter: Delivered) -> None:
        response = type_code(client, letter.path, self.new_code(client, letter))
        assert response.status_code == 303, response.text[:1000]
        assert response.headers["Location"].endswith(f"{letter.path}/decision")

    def status(self, letter: Delivered) -> str:
        with self.app.app_context():
            value = db.session.get_one(Letter, letter.id).status.value
            db.session.remove()
        return value

    def letter_row(self, letter: Delivered) -> Letter:
        with self.app.app_context():
            row = db.session.get_one(Letter, letter.id)
            db.session.expunge(row)
            db.session.remove()
        return row

    def events(self, letter: Delivered) -> list[str]:
        return [event for event, _ in self.evidence(letter)]

    def evidence(self, letter: Delivered) -> list[tuple[str, dict[str, Any]]]:
        with self.app.app_context():
            rows = db.session.execute(
                select(Evidence.event, Evidence.canonical).where(Evidence.letter_id == letter.id).order_by(Evidence.seq)
            ).all()
            db.session.remove()
        return [(event, json.loads(canonical)) for event, canonical in rows]

    def snapshot(self) -> dict[str, Any]:
        """Every row of every table, the SMS outbox and the job queue."""
        with self.app.app_context():
            tables = {
                table.name: sorted(
                    tuple(str(value) for value in row)
                    for row in db.session.execute(text(f'SELECT * FROM "{table.name}"')).all()  # noqa: S608
                )
                for table in db.metadata.sorted_tables
            }
            queued = every_queue().count
            db.session.remove()
        return {"tables": tables, "outbox": self.outbox(), "queued": queued}

    def settled_snapshot(self) -> dict[str, Any]:
        """The snapshot once the jobs earlier steps queued have run.

        Every recorded event queues the sealing of its evidence record, and an
        outcome queues its proof: left pending, they would change the tables
        (seals, proofs) between a snapshot and the next, whatever the step in
        between did.
        """
        self.run_jobs()
        snapshot = self.snapshot()
        assert snapshot["queued"] == 0
        return snapshot


@pytest.fixture
def flow(app: Flask, deposit: Any, run_jobs: Callable[[], None], outbox: Any) -> Flow:
    return Flow(app, deposit, run_jobs, outbox)


@pytest.fixture
def letter(flow: Flow) -> Delivered:
    return flow.letter()


@pytest.fixture
def client(app: Flask) -> FlaskClient:  # overrides conftest's: English pages
    return browser(app)


# --- landing -------------------------------------------------------------------


def test_opening_the_link_changes_nothing(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    before = flow.settled_snapshot()
    bot = browser(flow.app, "66.249.66.1")
    bot.environ_base["HTTP_USER_AGENT"] = "WhatsApp/2.23 link preview"
    for visitor in (client, bot, client):
        page = visitor.get(letter.path)
        assert page.status_code == 200
        assert letter.reference in page.text
        assert visitor.get(f"{letter.path}/code").status_code == 200
        assert visitor.head(letter.path).status_code == 200
    assert flow.snapshot() == before
    assert flow.status(letter) == "notified"


def test_landing_shows_reference_and_masked_number_but_not_the_sender(
    flow: Flow, letter: Delivered, client: FlaskClient
) -> None:
    page = client.get(letter.path)
    assert letter.reference in page.text
    assert "+212 6•• ••• •78" in page.text
    assert "612345678" not in page.text
    assert SENDER_NAME not in page.text
    assert 'name="csrf_token"' not in page.text  # asking for a code needs none (pages.send_code)
    assert "Set-Cookie" not in page.headers
    [sms] = flow.outbox()
    assert SENDER_NAME not in sms["text"]


@pytest.mark.parametrize("token", ["AAAAAAAAAAAAAAAAAAAAAA", "x", "A" * 65])
def test_unknown_link_is_a_404_page(flow: Flow, letter: Delivered, client: FlaskClient, token: str) -> None:
    for suffix in ("", "/code", "/decision", "/letter", "/document"):
        response = client.get(f"/l/{token}{suffix}")
        assert response.status_code == 404, suffix
        assert response.mimetype == "text/html"
        assert "This link does not work" in response.text
        assert response.headers["Cache-Control"] == "no-store"
    response = client.post(f"/l/{token}/code", data={"csrf_token": csrf_for(client, letter.path)})
    assert response.status_code == 404
    assert len(flow.outbox()) == 1


def test_every_recipient_page_is_no_store(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    responses = [client.get(letter.path), client.get(f"{letter.path}/code")]
    code = flow.new_code(client, letter)
    responses.append(type_code(client, letter.path, other_code(code)))  # 422 page
    responses.append(type_code(client, letter.path, code))  # 303
    responses.append(client.get(f"{letter.path}/decision"))
    responses.append(choose(client, letter.path, "accept"))
    responses.append(client.get(f"{letter.path}/letter"))
    responses.append(client.get(f"{letter.path}/document"))
    responses.append(client.get(letter.path))  # redirect to the letter
    responses.append(choose(client, letter.path, "refuse"))  # already answered
    assert [r.status_code for r in responses] == [200, 200, 422, 303, 200, 303, 200, 200, 302, 200]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store", response.request.path


# --- codes ---------------------------------------------------------------------


def test_asking_for_a_code_sends_one_sms_to_the_letters_number(flow: Flow, client: FlaskClient) -> None:
    letter = flow.letter(phone="+212 661 23 45 67")
    assert letter.phone == "+212661234567"
    response = ask_code(client, letter.path)
    assert response.status_code == 303
    assert flow.outbox()[1:] == []  # only after the commit, by the job
    flow.run_jobs()
    [_, sms] = flow.outbox()
    assert sms["to"] == "+212661234567"
    assert re.search(r"\b\d{6}\b", sms["text"])
    page = client.get(response.headers["Location"])
    assert "We sent a code to +212 6•• ••• •67" in page.text
    assert 'name="code"' in page.text


def test_codes_are_stored_hashed_and_the_secret_is_erased_once_sent(
    flow: Flow, letter: Delivered, client: FlaskClient
) -> None:
    code = flow.new_code(client, letter)
    with flow.app.app_context():
        [entry] = db.session.execute(select(OneTimeCode).where(OneTimeCode.letter_id == letter.id)).scalars()
        assert entry.code_hash != code
        assert code not in entry.code_hash
        assert len(entry.code_hash) == 64
        assert (entry.expires_at - entry.created_at).total_seconds() == 600
        messages = db.session.execute(select(OutboundMessage)).scalars().all()
        assert len(messages) == 2
        for message in messages:
            assert message.status.value == "sent"
            assert message.secret_ciphertext is None
            assert message.secret_wrapped_key is None
        row = db.session.execute(text("SELECT * FROM one_time_codes WHERE letter_id = :id"), {"id": letter.id}).one()
        assert all(code not in str(value) for value in row)
        db.session.remove()


def alert_of(html: str) -> str:
    match = re.search(r'role="alert">(.*?)</p>', html, re.S)
    assert match, html[:2000]
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def failure_details(flow: Flow, letter: Delivered) -> dict[str, Any]:
    event, record = flow.evidence(letter)[-1]
    assert event == "RecipientIdentificationFailure"
    details: dict[str, Any] = record["details"]
    return details


def test_wrong_code_is_a_422_page_with_tries_left_and_evidence(
    flow: Flow, letter: Delivered, client: FlaskClient
) -> None:
    code = flow.new_code(client, letter)
    response = type_code(client, letter.path, other_code(code))
    assert response.status_code == 422
    assert attempts_left(response.text) == 4
    assert "not right" in alert_of(response.text)
    assert 'name="code"' in response.text
    details = failure_details(flow, letter)
    assert (details["outcome"], details["counted"], details["failures"], details["tries_left"]) == ("wrong", True, 1, 4)
    assert details["wait_until"] is None
    assert code not in json.dumps(flow.evidence(letter)[-1][1])
    assert flow.letter_row(letter).code_failures == 1
    # Not identified: the decision page sends the browser back to the landing page.
    assert client.get(f"{letter.path}/decision").status_code == 302


@pytest.mark.parametrize("garbage", ["", "12345", "1234567", "abcdef"])
def test_malformed_codes_count_for_nothing_but_are_recorded(
    flow: Flow, letter: Delivered, client: FlaskClient, garbage: str
) -> None:
    flow.new_code(client, letter)
    response = type_code(client, letter.path, garbage)
    assert response.status_code == 422
    assert "6 digits" in alert_of(response.text)
    assert flow.letter_row(letter).code_failures == 0
    assert failure_details(flow, letter)["outcome"] == "malformed"


def test_code_accepts_spaces_as_typed(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    code = flow.new_code(client, letter)
    response = type_code(client, letter.path, f"{code[:3]} {code[3:]}")
    assert response.status_code == 303
    assert flow.events(letter)[-1] == "RecipientIdentification"


def test_a_code_is_single_use(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    code = flow.new_code(client, letter)
    assert type_code(client, letter.path, code).status_code == 303
    again = browser(flow.app, "10.0.0.2")
    response = type_code(again, letter.path, code)
    assert response.status_code == 422
    assert "already been used" in alert_of(response.text)
    assert again.get(f"{letter.path}/decision").status_code == 302
    assert flow.events(letter)[-2:] == ["RecipientIdentification", "RecipientIdentificationFailure"]
    assert failure_details(flow, letter)["outcome"] == "used"


def test_an_expired_code_says_so_and_counts_for_nothing(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    code = flow.new_code(client, letter)
    clock.advance(601)
    response = type_code(client, letter.path, code)
    assert response.status_code == 422
    assert "expired" in alert_of(response.text)
    assert "Send me a new code" in response.text
    assert flow.letter_row(letter).code_failures == 0
    assert failure_details(flow, letter)["outcome"] == "expired"
    assert type_code(client, letter.path, flow.new_code(client, letter)).status_code == 303


def test_a_code_is_still_valid_just_before_ten_minutes(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    code = flow.new_code(client, letter)
    clock.advance(599)
    assert type_code(client, letter.path, code).status_code == 303


def test_a_dead_code_says_so_and_the_right_new_code_is_accepted_at_once(
    flow: Flow, letter: Delivered, client: FlaskClient
) -> None:
    code = flow.new_code(client, letter)
    token = csrf_for(client, letter.path)
    for left in (4, 3, 2, 1):
        response = type_code(client, letter.path, other_code(code), token)
        assert (response.status_code, attempts_left(response.text)) == (422, left)
    response = type_code(client, letter.path, other_code(code), token)  # the fifth wrong try kills it
    assert response.status_code == 422
    assert "no longer works" in alert_of(response.text)
    assert failure_details(flow, letter)["outcome"] == "dead"
    # The page offers a new code at once, as its main button.
    assert re.search(r'<button type="submit" class="primary">Send me a new code</button>', response.text)
    # The right code, dead now, is refused and says why; nothing more is counted.
    response = type_code(client, letter.path, code, token)
    assert response.status_code == 422
    assert "no longer works" in alert_of(response.text)
    assert flow.letter_row(letter).code_failures == 5
    assert "RecipientIdentification" not in flow.events(letter)
    # A new code, typed right, gets the recipient in at once.
    assert type_code(client, letter.path, flow.new_code(client, letter, token), token).status_code == 303
    _, record = flow.evidence(letter)[-1]
    assert record["event"] == "RecipientIdentification"
    assert record["details"]["failures_before"] == 5
    assert flow.letter_row(letter).code_failures == 0  # a right code ends the run (NIST SP 800-63B-4)


def test_the_fifth_try_may_be_the_right_one(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    code = flow.new_code(client, letter)
    token = csrf_for(client, letter.path)
    for _ in range(4):
        assert type_code(client, letter.path, other_code(code), token).status_code == 422
    assert type_code(client, letter.path, code, token).status_code == 303


def test_at_most_three_codes_per_fifteen_minutes(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    start = clock.now()
    for _ in range(3):
        flow.new_code(client, letter)
        clock.advance(60)
    sent = len(flow.outbox())
    response = ask_code(client, letter.path)
    assert response.status_code == 429
    # It says when the next code can be asked: 15 minutes after the first (Morocco's time, 24-hour).
    next_at = (start + timedelta(seconds=900)).astimezone(MOROCCO)
    assert f"from {next_at:%H:%M}" in alert_of(response.text)
    flow.run_jobs()
    assert len(flow.outbox()) == sent
    with flow.app.app_context():
        assert db.session.query(OneTimeCode).count() == 3
        db.session.remove()

    clock.advance(899 - 3 * 60)  # the first code is 14:59 old: still counted
    assert ask_code(client, letter.path).status_code == 429
    clock.advance(2)  # 15:01: the window slides past the first code only
    flow.new_code(client, letter)
    assert ask_code(client, letter.path).status_code == 429


def test_a_link_alone_cannot_wear_anything_out(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    """Anyone holding the link, without a code ever sent: ten wrong codes count against nothing."""
    attacker = browser(flow.app, "10.6.6.6")
    attacker_token = csrf_for(attacker, letter.path)
    for _ in range(10):
        response = type_code(attacker, letter.path, "000000", attacker_token)
        assert response.status_code == 422
        assert "No code has been sent" in alert_of(response.text)
    row = flow.letter_row(letter)
    assert (row.code_failures, row.code_wait_until, row.locked_at) == (0, None, None)
    assert [failure_details(flow, letter)["outcome"], failure_details(flow, letter)["counted"]] == ["no_code", False]
    assert flow.events(letter).count("RecipientIdentificationFailure") == 10  # every one is evidence
    flow.identify(client, letter)  # the real recipient: straight in


def test_wrong_codes_make_the_next_check_wait_longer_and_longer(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    settings = flow.app.extensions["wassit"].settings
    attacker = browser(flow.app, "10.6.6.6")
    token = csrf_for(attacker, letter.path)
    code = flow.new_code(attacker, letter, token)
    for _ in range(5):  # five free failures: no wait
        type_code(attacker, letter.path, other_code(code), token)
    assert flow.letter_row(letter).code_wait_until is None
    code = flow.new_code(attacker, letter, token)
    waits = []
    for _ in range(4):
        response = type_code(attacker, letter.path, other_code(code), token)
        assert response.status_code == 422
        details = failure_details(flow, letter)
        waits.append(details["wait_seconds"])
        assert details["wait_until"] == isoformat_utc(clock.now() + timedelta(seconds=details["wait_seconds"]))
        # During the wait nothing is checked, nothing counted: the right answer is to wait, or a new code.
        blocked = type_code(attacker, letter.path, other_code(code), token)
        assert blocked.status_code == 429
        assert "A new code sent to your phone works at once" in alert_of(blocked.text)
        assert (failure_details(flow, letter)["outcome"], failure_details(flow, letter)["counted"]) == (
            "waiting",
            False,
        )
        clock.advance(details["wait_seconds"])
        if len(waits) == 4:
            break
        if details["tries_left"] == 0:
            code = flow.new_code(attacker, letter, token)
    assert waits == [30, 60, 120, 240]
    assert settings.code_wait_max == 3600


def test_waits_stop_at_an_hour_and_never_lock(flow: Flow, letter: Delivered, clock: FrozenClock) -> None:
    from webapp.otp import wait_after

    assert [wait_after(n, free=5, base=30, cap=3600) for n in range(1, 16)] == [
        0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600,
    ]  # fmt: skip
    assert wait_after(10_000, free=5, base=30, cap=3600) == 3600


def test_a_fresh_code_gets_the_real_recipient_in_during_a_wait(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    """Someone with the link types wrong codes until the letter waits an hour; the recipient asks a new
    code on their phone and is in at once.  The other browser cannot check that code during the wait."""
    attacker = browser(flow.app, "10.6.6.6")
    token = csrf_for(attacker, letter.path)
    with flow.app.app_context():
        row = db.session.get_one(Letter, letter.id)
        row.code_failures = 20
        row.code_wait_until = clock.now() + timedelta(hours=1)
        db.session.commit()
        db.session.remove()
    deadline = flow.letter_row(letter).deadline_at
    assert "the next code can be typed from" in client.get(f"{letter.path}/code").text

    mine = csrf_for(client, letter.path)
    code = flow.new_code(client, letter, mine)
    # The other browser, during the wait: its guesses are not checked, and the code is left untouched.
    for guess in (other_code(code), "000000"):
        assert type_code(attacker, letter.path, guess, token).status_code == 429
    with flow.app.app_context():
        assert db.session.query(OneTimeCode).one().attempts == 0
        db.session.remove()
    response = type_code(client, letter.path, code, mine)
    assert response.status_code == 303
    _, record = flow.evidence(letter)[-1]
    assert record["event"] == "RecipientIdentification"
    assert (record["details"]["failures_before"], record["details"]["during_wait"]) == (20, True)
    row = flow.letter_row(letter)
    assert (row.code_failures, row.code_wait_until, row.deadline_at) == (0, None, deadline)
    assert choose(client, letter.path, "accept").status_code == 303


def test_a_fresh_code_is_checked_once_during_a_wait(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    with flow.app.app_context():
        row = db.session.get_one(Letter, letter.id)
        row.code_failures = 8
        row.code_wait_until = clock.now() + timedelta(minutes=4)
        db.session.commit()
        db.session.remove()
    token = csrf_for(client, letter.path)
    code = flow.new_code(client, letter, token)
    response = type_code(client, letter.path, other_code(code), token)  # a typo: checked, counted
    assert response.status_code == 422
    assert failure_details(flow, letter)["failures"] == 9
    assert failure_details(flow, letter)["wait_seconds"] == 240
    assert type_code(client, letter.path, code, token).status_code == 429  # its one check during the wait is taken
    assert type_code(client, letter.path, flow.new_code(client, letter, token), token).status_code == 303


def test_an_accepted_letter_stays_open_to_its_recipient_whatever_others_type(
    flow: Flow, letter: Delivered, client: FlaskClient
) -> None:
    flow.identify(client, letter)
    assert choose(client, letter.path, "accept").status_code == 303
    attacker = browser(flow.app, "10.6.6.6")
    attacker_token = csrf_for(attacker, letter.path)
    for _ in range(10):
        type_code(attacker, letter.path, "000000", attacker_token)
    assert client.get(f"{letter.path}/document").status_code == 200
    again = browser(flow.app, "10.0.0.9")
    flow.identify_again(again, letter)


# --- the session is bound to one letter ---------------------------------------


def test_identification_binds_the_session_to_one_letter(flow: Flow, client: FlaskClient) -> None:
    first = flow.letter(phone="0612345678")
    second = flow.letter(phone="0698765432")
    flow.identify(client, first)
    assert client.get(f"{first.path}/decision").status_code == 200

    response = client.get(f"{second.path}/decision")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(second.path)
    token = csrf_for(client, second.path)
    response = client.post(f"{second.path}/decision", data={"csrf_token": token, "decision": "accept"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(second.path)
    assert flow.status(second) == "notified"
    assert client.get(f"{second.path}/document").status_code == 302

    # Identifying for the second letter drops the first one.
    flow.identify(client, second)
    assert client.get(f"{second.path}/decision").status_code == 200
    assert client.get(f"{first.path}/decision").status_code == 302


def test_a_code_of_one_letter_does_not_open_another(flow: Flow, client: FlaskClient) -> None:
    first = flow.letter(phone="0612345678")
    second = flow.letter(phone="0612345678")
    code = flow.new_code(client, first)
    assert type_code(client, second.path, code).status_code == 422
    assert client.get(f"{second.path}/decision").status_code == 302


def test_deciding_without_identification_does_nothing(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    before = flow.settled_snapshot()
    token = csrf_for(client, letter.path)
    for decision in ("accept", "refuse"):
        response = client.post(f"{letter.path}/decision", data={"csrf_token": token, "decision": decision})
        assert response.status_code == 303
        assert response.headers["Location"].endswith(letter.path)
    assert client.get(f"{letter.path}/letter").status_code == 302
    assert client.get(f"{letter.path}/document").status_code == 302
    assert flow.snapshot() == before


def test_identification_expires_with_the_recipient_session(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    flow.identify(client, letter)
    clock.advance(flow.app.extensions["wassit"].settings.recipient_session_ttl + 1)
    assert client.get(f"{letter.path}/decision").status_code == 302
    choose(client, letter.path, "accept")
    assert flow.status(letter) == "notified"


# --- CSRF ------------------------------------------------------------------------


def test_csrf_protection_is_on_in_tests(app: Flask) -> None:
    assert app.config["TESTING"] is True
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_forms_without_a_valid_csrf_token_are_refused(
    flow: Flow, letter: Delivered, client: FlaskClient, token: str | None
) -> None:
    flow.identify(client, letter)
    before = flow.settled_snapshot()
    data = {"decision": "accept"} | ({"csrf_token": token} if token else {})
    response = client.post(f"{letter.path}/decision", data=data)
    assert response.status_code == 400
    data = {"code": "123456"} | ({"csrf_token": token} if token else {})
    assert client.post(f"{letter.path}/code/check", data=data).status_code == 400
    flow.run_jobs()
    assert flow.snapshot() == before
    assert flow.status(letter) == "notified"


# --- decisions ---------------------------------------------------------------------


def test_accept_shows_the_sender_and_hands_over_the_exact_bytes(
    flow: Flow, client: FlaskClient, pdf: Callable[..., bytes], sender: Any
) -> None:
    document = pdf(pages=2, pad_to=7000)
    name = "إنذار – Mise en demeure n°7.pdf"  # Arabic, a dash and a degree sign: kept as the sender named it
    letter = flow.letter(document=document, filename=name)
    flow.identify(client, letter)
    decision_page = client.get(f"{letter.path}/decision")
    assert SENDER_NAME not in decision_page.text
    assert 'name="decision" value="accept"' in decision_page.text
    assert 'name="decision" value="refuse"' in decision_page.text

    response = choose(client, letter.path, "accept")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{letter.path}/letter")
    assert flow.status(letter) == "accepted"
    api = flow.app.test_client().get(f"/api/v1/letters/{letter.id}", headers=sender.auth).json
    assert api["status"] == "accepted"
    assert api["events"][-1]["type"] == "ConsignmentAcceptance"

    page = client.get(f"{letter.path}/letter")
    assert page.status_code == 200
    assert SENDER_NAME in page.text
    assert f"{letter.path}/document" in page.text
    assert "ContentHandover" not in flow.events(letter)

    download = client.get(f"{letter.path}/document")
    assert download.status_code == 200
    assert download.data == document
    assert download.mimetype == "application/pdf"
    disposition = download.headers["Content-Disposition"]
    # WSGI servers send header values as Latin-1 (PEP 3333): a raw Arabic name would crash the response.
    assert all(value.encode("latin-1") for _, value in download.headers.items())
    kind, options = parse_options_header(disposition)
    assert kind == "attachment"
    assert options["filename"] == name  # from filename*=UTF-8''…, which browsers prefer
    events = flow.events(letter)
    assert events[-1] == "ContentHandover"
    assert events.count("ContentHandover") == 1
    _, record = flow.evidence(letter)[-1]
    assert record["details"]["bytes"] == len(document)
    assert record["document"]["sha256"] == api["document"]["sha256"]


def test_an_accepted_letter_can_be_downloaded_again_after_a_new_identification(
    flow: Flow, client: FlaskClient, pdf: Callable[..., bytes]
) -> None:
    document = pdf(pad_to=2500)
    letter = flow.letter(document=document)
    flow.identify(client, letter)
    choose(client, letter.path, "accept")
    later = browser(flow.app, "10.0.0.9")
    landing = later.get(letter.path)
    assert "You accepted this letter" in landing.text
    assert later.get(f"{letter.path}/document").status_code == 302
    response = type_code(later, letter.path, flow.new_code(later, letter))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{letter.path}/letter")
    assert later.get(f"{letter.path}/document").data == document


def test_refuse_records_the_reason(flow: Flow, letter: Delivered, client: FlaskClient, sender: Any) -> None:
    flow.identify(client, letter)
    reason = "Je ne connais pas cet expéditeur — رفض"
    response = choose(client, letter.path, "refuse", reason=f"  {reason}  ")
    assert response.status_code == 200
    assert "You refused this letter" in response.text
    assert SENDER_NAME not in response.text
    assert flow.status(letter) == "refused"
    event, record = flow.evidence(letter)[-1]
    assert event == "ConsignmentRejection"
    assert record["details"]["reason"] == reason
    assert record["details"]["to_status"] == "refused"
    api = flow.app.test_client().get(f"/api/v1/letters/{letter.id}", headers=sender.auth).json
    assert api["status"] == "refused"
    # Refused: the document stays out of reach.
    assert client.get(f"{letter.path}/letter").status_code == 302
    assert client.get(f"{letter.path}/document").status_code == 302
    assert "ContentHandover" not in flow.events(letter)


def test_refuse_without_a_reason(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    flow.identify(client, letter)
    assert choose(client, letter.path, "refuse").status_code == 200
    event, record = flow.evidence(letter)[-1]
    assert event == "ConsignmentRejection"
    assert "reason" not in record["details"]


def test_a_decision_must_be_accept_or_refuse(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    flow.identify(client, letter)
    before = flow.settled_snapshot()
    for value in ("maybe", None):
        data = {"csrf_token": csrf_of(client.get(f"{letter.path}/decision").text)}
        if value:
            data["decision"] = value
        response = client.post(f"{letter.path}/decision", data=data)
        assert response.status_code == 422
        assert "Choose to accept or to refuse the letter" in response.text
    assert flow.snapshot() == before


@pytest.mark.parametrize(("first", "second"), [("accept", "refuse"), ("refuse", "accept")])
def test_after_a_decision_the_other_is_refused(
    flow: Flow, letter: Delivered, client: FlaskClient, first: str, second: str
) -> None:
    flow.identify(client, letter)
    token = csrf_of(client.get(f"{letter.path}/decision").text)
    client.post(f"{letter.path}/decision", data={"csrf_token": token, "decision": first})
    decided = "accepted" if first == "accept" else "refused"
    assert flow.status(letter) == decided
    before = flow.settled_snapshot()
    response = client.post(f"{letter.path}/decision", data={"csrf_token": token, "decision": second})
    assert response.status_code == 200
    assert ALREADY_ANSWERED in response.text
    assert flow.snapshot() == before
    assert flow.status(letter) == decided


def test_refused_letter_cannot_be_reopened_with_a_new_code(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    flow.identify(client, letter)
    choose(client, letter.path, "refuse")
    other = browser(flow.app, "10.0.0.3")
    assert ALREADY_ANSWERED in other.get(letter.path).text
    before = flow.settled_snapshot()
    token = csrf_for(other, letter.path)
    assert ALREADY_ANSWERED in ask_code(other, letter.path, token).text
    flow.run_jobs()
    assert flow.snapshot() == before


def test_download_before_acceptance_is_refused(flow: Flow, letter: Delivered, client: FlaskClient) -> None:
    flow.identify(client, letter)
    before = flow.settled_snapshot()
    for suffix in ("/document", "/letter"):
        response = client.get(f"{letter.path}{suffix}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(letter.path)
        assert b"%PDF" not in response.data
    assert flow.snapshot() == before


# --- negligence ------------------------------------------------------------------


def test_negligence_is_recorded_exactly_once(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock, sender: Any
) -> None:
    app = flow.app
    services = app.extensions["wassit"]
    deadline = flow.letter_row(letter).deadline_at
    assert deadline is not None
    assert (deadline - clock.now()).total_seconds() == services.settings.acceptance_period

    clock.advance(services.settings.acceptance_period - 1)
    with app.app_context():
        assert expire_overdue_letters(db.session, services) == 0
        db.session.remove()
    assert flow.status(letter) == "notified"

    clock.advance(2)
    with app.app_context():
        assert expire_overdue_letters(db.session, services) == 1
        assert expire_overdue_letters(db.session, services) == 0
        db.session.remove()
    assert flow.status(letter) == "neglected"
    assert flow.events(letter).count("AcceptanceRejectionExpiry") == 1
    event, record = flow.evidence(letter)[-1]
    assert event == "AcceptanceRejectionExpiry"
    assert record["at"] == isoformat_utc(deadline)
    api = app.test_client().get(f"/api/v1/letters/{letter.id}", headers=sender.auth).json
    assert api["status"] == "neglected"

    page = client.get(letter.path)
    assert page.status_code == 410  # Gone: the same answer at every step
    assert EXPIRED_MESSAGE in page.text
    assert 'name="code"' not in page.text


def test_a_letter_past_its_deadline_cannot_be_accepted_before_the_sweep(
    flow: Flow, letter: Delivered, client: FlaskClient, clock: FrozenClock
) -> None:
    settings = flow.app.extensions["wassit"].settings
    clock.advance(settings.acceptance_period - 60)
    flow.identify(client, letter)  # a minute before the deadline
    token = csrf_of(client.get(f"{letter.path}/decision").text)
    clock.advance(61)
    assert flow.status(letter) == "notified"  # not swept yet
    before = flow.settled_snapshot()
    response = client.post(f"{letter.path}/decision", data={"csrf_token": token, "decision": "accept"})
    assert response.status_code == 410
    assert EXPIRED_MESSAGE in response.text
    for page in (client.get(f"{letter.path}/decision"), client.get(letter.path), ask_code(client, letter.path, token)):
        assert page.status_code == 410
        assert EXPIRED_MESSAGE in page.text
    assert client.get(f"{letter.path}/document").status_code == 302
    flow.run_jobs()
    assert flow.snapshot() == before
    assert flow.status(letter) == "notified"


# --- per-client rate limit ----------------------------------------------------------


def test_code_requests_are_limited_per_client_and_letter(flow: Flow, client: FlaskClient, clock: FrozenClock) -> None:
    """Ten code requests an hour from one address for one letter; other letters from the same address
    (phones behind one carrier NAT) are not affected.  The limit's page leads back to the letter."""
    letters = [flow.letter(phone=f"06123456{n:02d}") for n in range(2)]
    token = csrf_for(client, letters[0].path)
    answers = []
    for n in range(10):
        answers.append(ask_code(client, letters[0].path, token).status_code)
        if n % 3 == 2:
            clock.advance(901)  # past the letter's own window of three codes
    assert answers == [303] * 10
    flow.run_jobs()
    limited = ask_code(client, letters[0].path, token)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.text
    assert f'href="{letters[0].path}">Back to your letter</a>' in limited.text
    assert 'href="mailto:support@wassit.ma' in limited.text
    assert limited.headers["Cache-Control"] == "no-store"
    with flow.app.app_context():
        assert db.session.query(OneTimeCode).count() == 10
        db.session.remove()
    # The same address for another letter, and another address for this one, are not affected.
    assert flow.new_code(client, letters[1], token)
    clock.advance(901)
    assert flow.new_code(browser(flow.app, "10.0.0.7"), letters[0])
