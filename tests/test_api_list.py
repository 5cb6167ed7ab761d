"""GET /api/v1/letters (pages, filters, search), the sender's reference, the proofs list, and the
one error shape of every answer under /api/."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import START, Sender
from tests.test_api import assert_json_error
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.models import Letter


def listing(client: FlaskClient, sender: Sender, **params: Any) -> Any:
    response = client.get("/api/v1/letters", query_string=params, headers=sender.auth)
    assert response.status_code == 200, response.data[:500]
    assert response.headers["Cache-Control"] == "no-store"
    return response.json


def deposit_at(deposit: Any, clock: FrozenClock, minutes: int, **fields: str) -> dict[str, Any]:
    clock.current = START + timedelta(minutes=minutes)
    response = deposit(**fields)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


# --- the sender's reference --------------------------------------------------------------------


def test_the_senders_reference_is_stored_and_returned(client: FlaskClient, sender: Sender, deposit: Any) -> None:
    created = deposit(sender_reference="  Dossier   2026/042 ")
    assert created.status_code == 201
    assert created.json["sender_reference"] == "Dossier 2026/042"
    shown = client.get(f"/api/v1/letters/{created.json['id']}", headers=sender.auth).json
    assert shown["sender_reference"] == "Dossier 2026/042"


def test_without_a_senders_reference_it_is_null(deposit: Any) -> None:
    assert deposit().json["sender_reference"] is None


def test_a_senders_reference_over_100_characters_is_refused(app: Flask, deposit: Any) -> None:
    assert deposit(sender_reference="x" * 100).status_code == 201
    assert_json_error(deposit(sender_reference="x" * 101), 422, "sender_reference")
    with app.app_context():
        assert db.session.query(Letter).count() == 1
        db.session.remove()


# --- the list ----------------------------------------------------------------------------------


def test_the_list_is_newest_first_and_paged_with_a_cursor(
    client: FlaskClient, sender: Sender, deposit: Any, clock: FrozenClock
) -> None:
    ids = [deposit_at(deposit, clock, minute)["id"] for minute in range(5)]
    first = listing(client, sender, limit=2)
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    second = listing(client, sender, limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in second["items"]] == ids[::-1][2:4]
    last = listing(client, sender, limit=2, cursor=second["next_cursor"])
    assert [item["id"] for item in last["items"]] == ids[:1]
    assert last["next_cursor"] is None
    item = first["items"][0]
    assert set(item) >= {"id", "reference", "sender_reference", "status", "deposited_at", "recipient", "url"}
    assert "events" not in item


def test_letters_deposited_at_the_same_instant_are_each_listed_once(
    client: FlaskClient, sender: Sender, deposit: Any
) -> None:
    ids = {deposit().json["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        page = listing(client, sender, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


def test_the_list_shows_only_the_organisations_letters(
    client: FlaskClient, sender: Sender, deposit: Any, make_sender: Callable[..., Sender]
) -> None:
    other = make_sender(org="Cabinet Benjelloun")
    mine = deposit().json["id"]
    deposit(as_sender=other)
    assert [item["id"] for item in listing(client, sender)["items"]] == [mine]
    assert len(listing(client, other)["items"]) == 1


def test_the_list_filters_by_status(
    client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Callable[[], None]
) -> None:
    notified = deposit().json["id"]
    run_jobs()
    deposited = deposit().json["id"]
    assert [i["id"] for i in listing(client, sender, status="notified")["items"]] == [notified]
    assert [i["id"] for i in listing(client, sender, status="deposited")["items"]] == [deposited]
    assert len(listing(client, sender, status="deposited,notified")["items"]) == 2
    assert listing(client, sender, status="accepted")["items"] == []


def test_the_list_filters_by_deposit_dates(
    client: FlaskClient, sender: Sender, deposit: Any, clock: FrozenClock
) -> None:
    early = deposit_at(deposit, clock, 0)["id"]
    late = deposit_at(deposit, clock, 60)["id"]
    cut = (START + timedelta(minutes=30)).isoformat()
    assert [i["id"] for i in listing(client, sender, deposited_after=cut)["items"]] == [late]
    assert [i["id"] for i in listing(client, sender, deposited_before=cut)["items"]] == [early]
    naive = (START + timedelta(minutes=30)).replace(tzinfo=None).isoformat()  # taken as UTC
    assert [i["id"] for i in listing(client, sender, deposited_after=naive)["items"]] == [late]
    zulu = START.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(listing(client, sender, deposited_after=zulu)["items"]) == 2


@pytest.mark.parametrize(
    "query",
    [
        "{reference}",
        "{reference_lower_no_dash}",
        "DOSSIER-77",
        "0661234567",
        "+212 661-23-45-67",
        "fatima",
        "ZAHRA",
    ],
)
def test_the_search_finds_a_letter_by_reference_number_or_name(
    client: FlaskClient, sender: Sender, deposit: Any, query: str
) -> None:
    found = deposit(recipient_phone="0661234567", recipient_name="Fatima Zahra Idrissi", sender_reference="DOSSIER-77")
    deposit(recipient_phone="0612345678", recipient_name="Youssef Alami", sender_reference="DOSSIER-78")
    reference = found.json["reference"]
    q = query.format(reference=reference, reference_lower_no_dash=reference.replace("-", "").lower())
    assert [i["id"] for i in listing(client, sender, q=q)["items"]] == [found.json["id"]]


def test_the_search_treats_wildcards_as_text(client: FlaskClient, sender: Sender, deposit: Any) -> None:
    deposit(recipient_name="Youssef Alami")
    assert listing(client, sender, q="%")["items"] == []
    assert listing(client, sender, q="_")["items"] == []
    assert listing(client, sender, q="DOSSIER")["items"] == []  # a sender reference matches exactly


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "lost"}, "status"),
        ({"deposited_after": "yesterday"}, "deposited_after"),
        ({"deposited_before": "2026-13-01"}, "deposited_before"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4Il0"}, "cursor"),  # base64 of ["x"]
        ({"q": "x" * 201}, "q"),
    ],
)
def test_bad_list_parameters_are_422_with_the_field(
    client: FlaskClient, sender: Sender, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/letters", query_string=params, headers=sender.auth)
    assert_json_error(response, 422, field)


def test_the_list_needs_a_token(client: FlaskClient) -> None:
    assert_json_error(client.get("/api/v1/letters"), 401, None)


# --- proofs ------------------------------------------------------------------------------------


def test_the_proofs_list_shows_each_proof_with_its_status_and_url(
    client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Callable[[], None]
) -> None:
    letter_id = deposit().json["id"]
    pending = client.get(f"/api/v1/letters/{letter_id}/proofs", headers=sender.auth)
    assert pending.status_code == 200
    [proof] = pending.json["items"]
    assert proof["kind"] == "deposit"
    assert proof["status"] in {"pending", "ready"}
    run_jobs()
    [ready] = client.get(f"/api/v1/letters/{letter_id}/proofs", headers=sender.auth).json["items"]
    assert ready["status"] == "ready"
    assert ready["url"].endswith(f"/api/v1/letters/{letter_id}/proofs/deposit")
    pdf = client.get(ready["url"], headers=sender.auth)
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"


def test_another_organisations_proofs_are_404(
    client: FlaskClient, deposit: Any, make_sender: Callable[..., Sender]
) -> None:
    letter_id = deposit().json["id"]
    other = make_sender(org="Cabinet Benjelloun")
    assert_json_error(client.get(f"/api/v1/letters/{letter_id}/proofs", headers=other.auth), 404, None)
    assert_json_error(client.get(f"/api/v1/letters/{letter_id}/proofs/deposit", headers=other.auth), 404, None)


# --- one error shape ---------------------------------------------------------------------------


def test_every_api_error_has_the_same_shape(client: FlaskClient, sender: Sender, deposit: Any) -> None:
    letter_id = deposit().json["id"]
    auth = sender.auth
    assert_json_error(client.get("/api/v1/letters/nope"), 401, None)
    assert_json_error(client.get("/api/v1/nowhere", headers=auth), 404, None)
    assert_json_error(client.get("/api/nowhere"), 404, None)
    not_allowed = assert_json_error(client.delete(f"/api/v1/letters/{letter_id}", headers=auth), 405, None)
    assert not_allowed["code"] == "method_not_allowed"
    assert_json_error(client.put("/api/v1/letters", headers=auth), 405, None)
    assert "POST" in client.put("/api/v1/letters", headers=auth).headers["Allow"]
    assert_json_error(client.post("/api/v1/letters", json={}, headers=auth), 415, None)
    assert_json_error(client.post(f"/api/v1/letters/{letter_id}/resend", headers=auth), 409, None)
    assert_json_error(client.get(f"/api/v1/letters/{letter_id}/proofs/nope", headers=auth), 404, None)


def test_a_malformed_multipart_body_is_a_json_400(client: FlaskClient, sender: Sender) -> None:
    response = client.post(
        "/api/v1/letters",
        data=io.BytesIO(b'--xyz\r\nContent-Disposition: form-data; name="document"; filename="a.pdf"\r\n'),
        headers={**sender.auth, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code in {400, 422}
    assert_json_error(response, response.status_code, response.json["error"].get("field"))


def test_an_unexpected_failure_is_a_json_500(
    app: Flask, client: FlaskClient, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.web.api import letters as api

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    app.config.update(PROPAGATE_EXCEPTIONS=False)
    monkeypatch.setattr(api, "_limit_arg", boom)
    error = assert_json_error(client.get("/api/v1/letters", headers=sender.auth), 500, None)
    assert error["code"] == "server_error"
