"""The support console: agents log in with two factors, find a letter, follow it, resend, unlock, retry;
never reach its content or keys; every action lands in an append-only audit log."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from tests.conftest import Sender
from tests.db_helpers import evidence_rows, letter_row, only_message
from tests.portal_helpers import ENGLISH, csrf_token, log_in, portal_page
from tests.support_helpers import (
    AGENT_PASSWORD,
    log_in_agent,
    make_agent,
    next_totp_code,
    submit_agent_password,
)
from tests.trust_helpers import Letters, record_of
from tests.vonage_helpers import SECRET, FakeVonage, receipt_fields, sign
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.states import Event
from webapp.models import (
    AccessLink,
    Agent,
    AgentAuditEntry,
    Letter,
    MessagePurpose,
    MessageStatus,
    OneTimeCode,
    OutboundMessage,
    StoredDocument,
)
from webapp.notify.sms.console import ConsoleSmsProvider
from webapp.services import Services, current_services


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


@pytest.fixture
def agent(app: Flask) -> tuple[str, str]:
    return make_agent(app)


@pytest.fixture
def console(app: Flask, agent: tuple[str, str]) -> FlaskClient:
    """A browser of its own, logged into the console as `agent`."""
    browser = app.test_client()
    log_in_agent(browser, app, *agent)
    return browser


def get(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    return client.get(path, headers={**ENGLISH, **kwargs.pop("headers", {})}, **kwargs)


def post_form(client: FlaskClient, page_path: str, action: str, data: dict[str, str]) -> Any:
    """Submits a console form the way a browser does: the CSRF token comes from the page it is on."""
    page = get(client, page_path)
    assert page.status_code == 200, page.text[:2000]
    return client.post(action, data={"csrf_token": csrf_token(page.text), **data}, headers=ENGLISH)


def audit(app: Flask) -> list[AgentAuditEntry]:
    with app.app_context():
        rows = list(db.session.execute(select(AgentAuditEntry).order_by(AgentAuditEntry.at)).scalars())
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', html)


def set_letter(app: Flask, letter_id: str, **values: Any) -> None:
    with app.app_context():
        db.session.execute(update(Letter).where(Letter.id == letter_id).values(**values))
        db.session.commit()
        db.session.remove()


# --- logging in -----------------------------------------------------------------------------------


def test_an_agent_without_two_factor_must_enrol_before_seeing_anything(
    app: Flask, client: FlaskClient, letters: Letters
) -> None:
    letter_id, _ = letters.notified()
    agent_id, _ = make_agent(app, "new@wassit.ma", two_factor=False)
    assert submit_agent_password(client, app, agent_id).endswith("/support/login/enrol")
    # Half logged in: the console is still closed.
    assert get(client, "/support/").headers["Location"].endswith("/support/login")
    assert get(client, f"/support/letters/{letter_id}").status_code == 303

    enrol = get(client, "/support/login/enrol")
    assert enrol.status_code == 200
    assert "<svg" in enrol.text
    secret = re.search(r'<code dir="ltr" class="secret">([A-Z2-7]+)</code>', enrol.text)
    assert secret
    wrong = client.post("/support/login/enrol", data={"csrf_token": csrf_token(enrol.text), "code": "000000"})
    assert wrong.status_code == 200
    assert get(client, "/support/").status_code == 303
    done = client.post(
        "/support/login/enrol",
        data={"csrf_token": csrf_token(enrol.text), "code": next_totp_code(app, secret.group(1))},
    )
    assert done.status_code == 303
    assert get(client, "/support/").status_code == 200
    with app.app_context():
        assert db.session.get_one(Agent, agent_id).has_two_factor


def test_a_wrong_code_keeps_the_console_closed(app: Flask, client: FlaskClient, agent: tuple[str, str]) -> None:
    submit_agent_password(client, app, agent[0])
    page = get(client, "/support/login/code")
    response = client.post(
        "/support/login/code", data={"csrf_token": csrf_token(page.text), "code": "123456"}, headers=ENGLISH
    )
    assert response.status_code == 200
    assert "Wrong or already used code" in response.text
    assert get(client, "/support/").status_code == 303


def test_a_wrong_password_says_the_same_as_an_unknown_agent(client: FlaskClient, agent: tuple[str, str]) -> None:
    page = get(client, "/support/login")
    texts = []
    for email, password in (("agent@wassit.ma", "wrong password!!"), ("nobody@wassit.ma", AGENT_PASSWORD)):
        response = client.post(
            "/support/login",
            data={"csrf_token": csrf_token(page.text), "email": email, "password": password},
            headers=ENGLISH,
        )
        assert response.status_code == 200
        texts.append(flashes(response.text))
    assert texts[0] == texts[1] != []


def test_the_console_session_ends_after_inactivity(app: Flask, console: FlaskClient, clock: FrozenClock) -> None:
    clock.advance(14 * 60)
    assert get(console, "/support/").status_code == 200  # activity restarts the clock
    clock.advance(14 * 60)
    assert get(console, "/support/attention").status_code == 200
    clock.advance(15 * 60 + 1)
    assert get(console, "/support/", headers={"HX-Request": "true"}).status_code == 404
    expired = get(console, "/support/")
    assert expired.status_code == 303
    assert expired.headers["Location"].endswith("/support/login")
    clock.advance(1)
    assert get(console, "/support/").status_code == 303  # logged out for good, not just this request


def test_a_sender_session_cannot_reach_the_console(
    app: Flask, client: FlaskClient, sender: Sender, letters: Letters
) -> None:
    letter_id, _ = letters.notified()
    log_in(client, sender)
    assert get(client, "/letters").status_code == 200
    for path in ("/support/", f"/support/letters/{letter_id}", "/support/attention", "/support/audit"):
        response = get(client, path)
        assert response.status_code == 303, path
        assert response.headers["Location"].endswith("/support/login")
        assert get(client, path, headers={"HX-Request": "true"}).status_code == 404
    assert get(client, "/support/", headers={"Accept": "application/json"}).status_code == 404


def test_an_agent_session_cannot_use_the_portal_or_the_api(app: Flask, console: FlaskClient, letters: Letters) -> None:
    letter_id, _ = letters.notified()
    for path in ("/letters", f"/letters/{letter_id}", "/account", f"/letters/{letter_id}/proofs/deposit"):
        response = get(console, path)
        assert response.status_code in {302, 303, 401, 403, 404}, path
        assert response.mimetype != "application/pdf"
        assert "/login" in response.headers.get("Location", "/login")
    api = console.get(f"/api/v1/letters/{letter_id}")
    assert api.status_code == 401
    assert console.get(f"/api/v1/letters/{letter_id}/proofs/deposit").status_code == 401
    assert get(console, "/support/").status_code == 200  # still logged into the console


# --- content and keys are out of reach -------------------------------------------------------------


def _secrets_of(app: Flask, letter_id: str, agent_id: str) -> list[str]:
    """Every key, hash and secret stored about the letter (and the agent's TOTP), in the forms a page
    could show them."""
    with app.app_context():
        document = db.session.get_one(StoredDocument, letter_id)
        blobs = [document.wrapped_key, document.nonce, current_services().objects.ciphertext(document)[:24]]
        agent = db.session.get_one(Agent, agent_id)
        blobs += [agent.totp_wrapped_key or b"", agent.totp_ciphertext or b""]
        for message in db.session.execute(
            select(OutboundMessage).where(OutboundMessage.letter_id == letter_id)
        ).scalars():
            blobs += [message.secret_wrapped_key or b"", message.secret_ciphertext or b""]
        hashes = list(
            db.session.execute(select(AccessLink.token_hash).where(AccessLink.letter_id == letter_id)).scalars()
        )
        hashes += db.session.execute(select(OneTimeCode.code_hash).where(OneTimeCode.letter_id == letter_id)).scalars()
        db.session.remove()
    forms = [h for h in hashes if h]
    for blob in filter(None, blobs):
        forms += [blob.hex(), base64.b64encode(blob).decode()[:16], base64.urlsafe_b64encode(blob).decode()[:16]]
    return forms


def test_console_pages_show_no_content_no_key_and_no_confidential_name(
    app: Flask, client: FlaskClient, letters: Letters, agent: tuple[str, str], pdf: Any
) -> None:
    letter_id, path = letters.notified(
        document=pdf(text_marker="SECRET-CONTENT-MARKER"), filename="licenciement-ahmed.pdf"
    )
    letters.identify(path)  # a code exists, used, its hash stored
    set_letter(app, letter_id, document_confidential=True)
    console = app.test_client()
    log_in_agent(console, app, *agent)
    reference = letter_row(app, letter_id).reference
    pages = [
        get(console, f"/support/letters/{letter_id}"),
        get(console, "/support/", query_string={"q": reference}),
        get(console, "/support/attention"),
        get(console, "/support/audit"),
    ]
    assert [page.status_code for page in pages] == [200] * 4
    assert reference in pages[1].text
    forbidden = ["licenciement-ahmed", "SECRET-CONTENT-MARKER", "%PDF", *_secrets_of(app, letter_id, agent[0])]
    for page in pages:
        for secret in forbidden:
            assert secret not in page.text, secret
    assert "Confidential" in pages[0].text
    # Without the confidential mark, the name is metadata an agent may see.
    set_letter(app, letter_id, document_confidential=False)
    assert "licenciement-ahmed.pdf" in get(console, f"/support/letters/{letter_id}").text


def test_an_agent_cannot_get_the_document_or_the_proofs(
    app: Flask, client: FlaskClient, letters: Letters, console: FlaskClient, run_jobs: Any
) -> None:
    letter_id, path = letters.notified()
    letters.decide(path, "accept")
    run_jobs()
    assert client.get(f"{path}/document").mimetype == "application/pdf"  # the recipient can
    for target in (
        f"{path}/document",
        f"{path}/letter",
        f"/letters/{letter_id}/proofs/reception",
        f"/api/v1/letters/{letter_id}/proofs/reception",
        f"/support/letters/{letter_id}/document",
        f"/support/letters/{letter_id}/proofs/reception",
    ):
        response = get(console, target)
        assert response.status_code in {302, 303, 401, 403, 404}, target
        assert response.mimetype != "application/pdf", target
        assert b"%PDF" not in response.data
    page = get(console, f"/support/letters/{letter_id}")
    assert "/proofs/" not in page.text  # only the public verification links
    assert "/verify/" in page.text


# --- the whole story: find, follow, resend, and the sender sees it ---------------------------------


def test_an_agent_finds_by_number_sees_the_delivery_resends_and_the_sender_sees_it(
    app: Flask, client: FlaskClient, letters: Letters, sender: Sender, clock: FrozenClock, run_jobs: Any, outbox: Any
) -> None:
    services: Services = app.extensions["wassit"]
    services.settings = services.settings.replace(vonage_signature_secret=SECRET)
    services.sms = FakeVonage(ConsoleSmsProvider(services.settings.sms_outbox))
    letter_id, _ = letters.notified(recipient_phone="0612345678")
    message = only_message(app, letter_id)
    clock.advance(70)
    dlr = client.post("/webhooks/vonage/dlr", data=sign(receipt_fields(message, signed_at=clock.now())))
    assert dlr.status_code == 200

    agent_id, secret = make_agent(app)
    console = app.test_client()
    log_in_agent(console, app, agent_id, secret)
    found = get(console, "/support/", query_string={"q": "+212 6 12 34 56 78"})
    reference = letter_row(app, letter_id).reference
    assert reference in found.text
    assert f"/support/letters/{letter_id}" in found.text

    page = get(console, f"/support/letters/{letter_id}")
    assert "SMS delivered to the phone" in page.text
    assert "NotificationDelivered" in page.text
    assert message.provider_message_id
    assert message.provider_message_id in page.text
    assert "delivered" in page.text

    clock.advance(60)
    before = len(outbox())
    no_reason = post_form(
        console,
        f"/support/letters/{letter_id}",
        f"/support/letters/{letter_id}/resend",
        {"sms": "y", "reason": "short"},
    )
    assert no_reason.status_code == 303
    run_jobs()
    assert len(outbox()) == before
    assert audit(app) == []

    reason = "Recipient called: says he never got the SMS"
    response = post_form(
        console, f"/support/letters/{letter_id}", f"/support/letters/{letter_id}/resend", {"sms": "y", "reason": reason}
    )
    assert response.status_code == 303
    run_jobs()
    [sms] = outbox()[before:]
    assert sms["to"] == "+212612345678"

    [record] = [e for e in evidence_rows(app, letter_id) if e.event == Event.CONSIGNMENT_REMINDER.value]
    notification = record_of(record)["details"]["notification"]
    assert notification["reason"] == "support"
    assert notification["requested_by_agent"] == agent_id
    assert reason not in record.canonical  # the agent's words stay in the audit log

    [entry] = audit(app)
    assert (entry.agent_id, entry.action, entry.letter_id, entry.reason) == (agent_id, "resend", letter_id, reason)
    assert entry.details["channels"] == ["sms"]
    assert reason in get(console, "/support/audit").text
    assert reason in get(console, "/support/audit", query_string={"agent": agent_id}).text
    assert reason not in get(console, "/support/audit", query_string={"letter": "x" * 36}).text

    sender_page = portal_page(client, sender, f"/letters/{letter_id}")
    assert "by our support team" in sender_page.text
    # And an integrator reads it in the API: the reminder event says who asked for it.
    api = app.test_client().get(f"/api/v1/letters/{letter_id}", headers=sender.auth).json
    [resent] = [event for event in api["events"] if event["type"] == Event.CONSIGNMENT_REMINDER.value]
    assert (resent["reason"], resent["channel"]) == ("support", "sms")


def test_agent_resends_share_the_letter_s_limits_and_go_only_where_chosen(
    app: Flask, letters: Letters, console: FlaskClient, clock: FrozenClock, run_jobs: Any
) -> None:
    letter_id, _ = letters.notified(recipient_email="youssef@example.ma", channel="email")
    run_jobs()
    page, action = f"/support/letters/{letter_id}", f"/support/letters/{letter_id}/resend"
    reason = "Recipient asked for the email again"
    assert post_form(console, page, action, {"email": "y", "reason": reason}).status_code == 303
    with app.app_context():
        asked = list(
            db.session.execute(
                select(OutboundMessage.channel, OutboundMessage.recipient).where(
                    OutboundMessage.letter_id == letter_id, OutboundMessage.requested_by_agent_id.is_not(None)
                )
            ).all()
        )
        db.session.remove()
    assert [tuple(row) for row in asked] == [("email", "youssef@example.ma")]
    clock.advance(5 * 60)
    too_soon = post_form(console, page, action, {"sms": "y", "reason": reason})
    assert "You can send it again in 5 min" in " ".join(flashes(get(console, page).text) or [too_soon.text])
    assert len(audit(app)) == 1
    nothing = post_form(console, page, action, {"reason": reason})
    assert nothing.status_code == 303
    assert len(audit(app)) == 1


def test_resends_on_different_channels_count_alike_toward_the_daily_limit(
    app: Flask, letters: Letters, console: FlaskClient, clock: FrozenClock, run_jobs: Any
) -> None:
    letter_id, _ = letters.notified(recipient_email="youssef@example.ma", channel="email")
    run_jobs()
    page, action = f"/support/letters/{letter_id}", f"/support/letters/{letter_id}/resend"
    reason = "Recipient asked for the notification again"
    for channel in ("sms", "email", "sms"):  # three resends, each on one channel
        assert post_form(console, page, action, {channel: "y", "reason": reason}).status_code == 303
        clock.advance(11 * 60)
    assert len(audit(app)) == 3
    fourth = post_form(console, page, action, {"email": "y", "sms": "y", "reason": reason})
    assert fourth.status_code == 303
    # The first of the three was 33 minutes ago: the next one is possible 24 hours after it.
    assert flashes(get(console, page).text) == [
        "The notification was sent again recently. You can send it again in 1407 min."
    ]
    assert len(audit(app)) == 3


# --- legal hold (issue 18) --------------------------------------------------------------------------


def test_an_agent_places_and_lifts_a_legal_hold_with_a_reason_audited(
    app: Flask, letters: Letters, console: FlaskClient
) -> None:
    letter_id, _ = letters.notified()
    page = f"/support/letters/{letter_id}"
    assert 'id="retention"' in get(console, page).text
    reason = "Court order 2026/412, Casablanca commercial court"
    placed = post_form(console, page, f"{page}/legal-hold", {"reason": reason, "action": "place"})
    assert placed.status_code == 303
    assert "Legal hold placed." in flashes(get(console, page).text)
    assert letters.api(letter_id)["retention"]["legal_hold"]["placed_by"] == "operator"
    assert evidence_rows(app, letter_id)[-1].event == "LegalHoldPlaced"
    lifted = post_form(console, page, f"{page}/legal-hold", {"reason": "Order lifted on appeal", "action": "lift"})
    assert lifted.status_code == 303
    assert letters.api(letter_id)["retention"]["legal_hold"] is None
    assert sorted((entry.action, entry.reason) for entry in audit(app)) == [
        ("lift_legal_hold", "Order lifted on appeal"),
        ("place_legal_hold", reason),
    ]


# --- unlock, retry, the attention queue ------------------------------------------------------------


def test_unlocking_a_locked_out_recipient_needs_a_reason_and_is_recorded(
    app: Flask, client: FlaskClient, letters: Letters, console: FlaskClient, clock: FrozenClock
) -> None:
    letter_id, path = letters.notified()
    set_letter(app, letter_id, locked_at=clock.now(), code_failures=10)
    queue = get(console, "/support/attention")
    assert letter_row(app, letter_id).reference in queue.text
    assert "Recipient locked out by wrong codes" in queue.text

    refused = post_form(console, "/support/attention", f"/support/letters/{letter_id}/unlock", {"reason": ""})
    assert refused.status_code == 303
    assert letter_row(app, letter_id).locked_at is not None

    reason = "Recipient identified by phone, typo in the code"
    done = post_form(
        console, "/support/attention", f"/support/letters/{letter_id}/unlock", {"reason": reason, "next": "attention"}
    )
    assert done.headers["Location"].endswith("/support/attention")
    letter = letter_row(app, letter_id)
    assert (letter.locked_at, letter.code_failures) == (None, 0)
    unlock = evidence_rows(app, letter_id)[-1]
    assert unlock.event == Event.RECIPIENT_UNLOCK.value
    details = record_of(unlock)["details"]
    assert details["unlocked_by_agent"] == console_agent_id(app)
    assert details["failures"] == 10
    [entry] = audit(app)
    assert (entry.action, entry.reason) == ("unlock", reason)
    assert client.get(path).status_code == 200
    assert client.post(f"{path}/code").status_code == 303
    again = post_form(
        console, f"/support/letters/{letter_id}", f"/support/letters/{letter_id}/unlock", {"reason": reason}
    )
    assert again.status_code == 303
    assert len(audit(app)) == 1  # not locked any more: nothing done, nothing logged


def console_agent_id(app: Flask) -> str:
    with app.app_context():
        agent_id = db.session.execute(select(Agent.id).where(Agent.email == "agent@wassit.ma")).scalar_one()
        db.session.remove()
        return agent_id


def test_a_stuck_message_is_in_the_queue_and_retried_in_one_click(
    app: Flask, deposit: Any, console: FlaskClient, run_jobs: Any, outbox: Any
) -> None:
    created = deposit()
    letter_id = created.json["id"]
    with app.app_context():
        db.session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.letter_id == letter_id)
            .values(status=MessageStatus.UNCERTAIN, last_error="worker stopped during submission")
        )
        db.session.commit()
        db.session.remove()
    message = only_message(app, letter_id)
    queue = get(console, "/support/attention")
    assert "A notification is stuck or retrying" in queue.text
    action = f"/support/letters/{letter_id}/messages/{message.id}/retry"
    assert action in queue.text
    response = post_form(
        console, "/support/attention", action, {"reason": "Operator incident, retry now", "next": "attention"}
    )
    assert response.status_code == 303
    run_jobs()
    assert only_message(app, letter_id).status is MessageStatus.SENT
    assert letter_row(app, letter_id).status.value == "notified"
    assert outbox()[-1]["to"] == "+212612345678"
    [entry] = audit(app)
    assert (entry.action, entry.details["previous_status"]) == ("retry", "uncertain")
    # Sent now: nothing left to retry.
    again = post_form(console, f"/support/letters/{letter_id}", action, {"reason": "Operator incident, retry now"})
    assert again.status_code == 303
    assert len(audit(app)) == 1
    assert action not in get(console, "/support/attention").text


def test_an_undeliverable_letter_is_listed_and_cannot_be_resent(
    app: Flask, letters: Letters, console: FlaskClient
) -> None:
    letter_id, _ = letters.notified()
    set_letter(app, letter_id, status="undeliverable")
    queue = get(console, "/support/attention")
    assert "Undeliverable (final)" in queue.text
    page = get(console, f"/support/letters/{letter_id}")
    assert f"/support/letters/{letter_id}/resend" not in page.text
    assert "This letter is undeliverable" in page.text
    post_form(
        console,
        f"/support/letters/{letter_id}",
        f"/support/letters/{letter_id}/resend",
        {"sms": "y", "reason": "The recipient changed his number"},
    )
    assert audit(app) == []


# --- the audit log and agent management ------------------------------------------------------------


def test_the_audit_log_refuses_updates_and_deletes(app: Flask, letters: Letters, console: FlaskClient) -> None:
    letter_id, _ = letters.notified()
    post_form(
        console,
        f"/support/letters/{letter_id}",
        f"/support/letters/{letter_id}/resend",
        {"sms": "y", "reason": "Recipient asked on the phone"},
    )
    [entry] = audit(app)
    with app.app_context():
        for statement in (
            update(AgentAuditEntry).where(AgentAuditEntry.id == entry.id).values(reason="nothing happened"),
            delete(AgentAuditEntry).where(AgentAuditEntry.id == entry.id),
        ):
            with pytest.raises(DatabaseError, match="append-only"):
                db.session.execute(statement)
            db.session.rollback()
        assert db.session.execute(text("SELECT reason FROM agent_audit_log")).scalar_one() == entry.reason
        db.session.remove()


def test_only_an_operator_admin_manages_agents(app: Flask, console: FlaskClient) -> None:
    assert get(console, "/support/agents").status_code == 404
    assert 'href="/support/agents"' not in get(console, "/support/").text
    admin_id, admin_secret = make_agent(app, "admin@wassit.ma", operator_admin=True)
    admin = app.test_client()
    log_in_agent(admin, app, admin_id, admin_secret)
    created = post_form(
        admin, "/support/agents", "/support/agents", {"email": "Second@Wassit.ma", "password": "a long password 12"}
    )
    assert created.status_code == 303
    agent_id = console_agent_id(app)
    deactivated = post_form(
        admin, "/support/agents", f"/support/agents/{agent_id}/deactivate", {"reason": "Left the company last week"}
    )
    assert deactivated.status_code == 303
    assert get(console, "/support/").status_code == 303  # the deactivated agent is out at once
    actions = [(e.action, e.agent_id) for e in audit(app)]
    assert actions == [("create_agent", admin_id), ("deactivate_agent", admin_id)]
    with app.app_context():
        second = db.session.execute(select(Agent).where(Agent.email == "second@wassit.ma")).scalar_one()
        assert not second.has_two_factor
        assert not second.is_operator_admin
        db.session.remove()


def test_flask_agent_create(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["agent", "create", "--email", "ops@wassit.ma", "--password", "twelve chars!!"])
    assert result.exit_code == 0, result.output
    assert "two-factor" in result.output
    weak = runner.invoke(args=["agent", "create", "--email", "x@wassit.ma", "--password", "short"])
    assert weak.exit_code != 0
    again = runner.invoke(args=["agent", "create", "--email", "OPS@wassit.ma", "--password", "twelve chars!!"])
    assert again.exit_code != 0
    with app.app_context():
        agent = db.session.execute(select(Agent).where(Agent.email == "ops@wassit.ma")).scalar_one()
        assert agent.totp_enabled_at is None
        assert not agent.is_operator_admin
        db.session.remove()


def test_the_console_is_never_cached(console: FlaskClient) -> None:
    for path in ("/support/", "/support/attention", "/support/audit", "/support/login"):
        assert get(console, path).headers["Cache-Control"] == "no-store"


def test_reading_codes_shows_their_counts_never_the_code(
    app: Flask, letters: Letters, console: FlaskClient, outbox: Any
) -> None:
    letter_id, path = letters.notified()
    letters.identify(path)
    code = re.search(r"\b(\d{6})\b", [m for m in outbox() if "code" in m["text"].lower()][-1]["text"])
    assert code
    page = get(console, f"/support/letters/{letter_id}")
    assert "One-time code requests" in page.text
    assert code.group(1) not in page.text
    assert only_message(app, letter_id, MessagePurpose.CODE).status is MessageStatus.SENT


def test_the_stored_document_is_never_loaded_by_the_console(
    app: Flask, letters: Letters, console: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Belt and braces: the console's letter page does not even decrypt anything."""
    letter_id, _ = letters.notified()
    services: Services = app.extensions["wassit"]

    def refuse(*_args: Any, **_kwargs: Any) -> bytes:
        raise AssertionError("the console decrypted something")

    monkeypatch.setattr(services.vault, "decrypt", refuse)
    assert get(console, f"/support/letters/{letter_id}").status_code == 200
    assert get(console, "/support/attention").status_code == 200


def test_the_case_file_reads_as_sentences_in_the_agents_language(
    app: Flask, console: FlaskClient, letters: Letters
) -> None:
    """No raw keys, English statuses or ISO times on a French console: each fact is named and translated."""
    letter_id, path = letters.notified(recipient_name="Salma Bennani")
    letters.decide(path, "accept")
    page = console.get(f"/support/letters/{letter_id}", headers={"Accept-Language": "fr"})
    assert page.status_code == 200
    text = page.text
    for raw in ("notification.provider_message_id", "from_status", "to_status", "deposited", "sent (", "pending"):
        assert raw not in text, raw
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+", text)  # no ISO time with microseconds
    assert "Identifiant du message chez l’opérateur" in text
    assert "Code à usage unique par SMS" in text
    assert "Envoyé (1 tentative)" in text
    assert 'class="desk"' in text  # the console takes a desk's width
