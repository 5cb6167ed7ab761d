"""The transparency log's public contract, checked as an outside client would: with the C2SP note
and RFC 9162 verifier of `tests/rfc9162.py` (written from the specifications), `openssl ts` and
`openssl cms`, over plain HTTP."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from tests import rfc9162
from tests.trust_helpers import cms_verify, evidence_rows, journal_key, openssl, run_cli, write
from webapp.clock import FrozenClock
from webapp.extensions import db
from webapp.letters.lifecycle import record
from webapp.letters.states import Event
from webapp.models import Letter
from webapp.services import Services


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _checkpoint(app: Flask) -> None:
    assert run_cli(app, ["evidence", "checkpoint"]).exit_code == 0


def _more_records(app: Flask, letter_id: str, count: int, clock: FrozenClock) -> None:
    """Appends `count` records to a letter through the domain (identification failures)."""
    with app.app_context():
        letter = db.session.get_one(Letter, letter_id)
        for _ in range(count):
            clock.advance(1)
            record(
                db.session,
                letter,
                Event.RECIPIENT_IDENTIFICATION_FAILURE,
                at=clock.now(),
                issuer=_services(app).issuer,
                details={"reason": "wrong code"},
            )
        db.session.commit()
        db.session.remove()


@pytest.fixture
def grown(app: Flask, deposit: Any, clock: FrozenClock) -> list[int]:
    """A journal grown over several checkpoints of awkward sizes: the sizes of its checkpoints."""
    created = deposit()
    letter_id = created.json["id"]
    sizes = []
    for batch in (0, 2, 4, 6, 11, 13):
        _more_records(app, letter_id, batch, clock)
        _checkpoint(app)
        sizes.append(len(evidence_rows(app)))
    assert sizes == [1, 3, 7, 13, 24, 37]
    return sizes


def test_the_key_and_the_latest_checkpoint(client: FlaskClient, grown: list[int], tmp_path: Path) -> None:
    key = client.get("/journal/key")
    assert key.status_code == 200
    assert key.mimetype == "text/plain"
    name, key_id, encoded = key.get_data(as_text=True).strip().split("+", 2)
    assert name == "wassit.ma/journal"
    assert len(key_id) == 8
    assert base64.b64decode(encoded)[0] == 1  # Ed25519

    response = client.get("/journal/checkpoint")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    note = response.get_data(as_text=True)
    lines = note.split("\n")
    assert lines[:2] == ["wassit.ma/journal", "37"]
    assert len(base64.b64decode(lines[2])) == 32
    assert lines[3] == ""
    assert lines[4].startswith("\u2014 wassit.ma/journal ")
    assert lines[5:] == [""]
    checkpoint = rfc9162.open_checkpoint(note, key.get_data(as_text=True))
    assert checkpoint.size == 37

    # Each checkpoint is RFC 3161 timestamped and sealed: openssl checks both against our root.
    ca = client.get("/trust/ca.pem").data
    tsr = client.get("/journal/checkpoint/37.tsr")
    assert tsr.status_code == 200
    assert tsr.mimetype == "application/timestamp-reply"
    verified = openssl(
        "ts", "-verify", "-data", write(tmp_path / "note.txt", note.encode()),
        "-in", write(tmp_path / "37.tsr", tsr.data), "-CAfile", write(tmp_path / "ca.pem", ca),
    )  # fmt: skip
    assert b"Verification: OK" in verified.stdout, verified.stderr
    changed = openssl(
        "ts", "-verify", "-data", write(tmp_path / "other.txt", note.encode() + b"\n"),
        "-in", tmp_path / "37.tsr", "-CAfile", tmp_path / "ca.pem",
    )  # fmt: skip
    assert changed.returncode != 0
    seal = client.get("/journal/checkpoint/37.p7s")
    assert cms_verify(tmp_path, note.encode(), seal.data, ca).returncode == 0
    # Earlier checkpoints stay available by size, unchanged.
    earlier = client.get("/journal/checkpoint/13")
    assert rfc9162.open_checkpoint(earlier.get_data(as_text=True), key.get_data(as_text=True)).size == 13
    assert "immutable" in earlier.headers["Cache-Control"]
    assert client.get("/journal/checkpoint/12").status_code == 404


def test_every_record_is_proven_included(app: Flask, client: FlaskClient, grown: list[int]) -> None:
    key = journal_key(client)
    rows = evidence_rows(app)
    checkpoint = rfc9162.open_checkpoint(client.get("/journal/checkpoint").get_data(as_text=True), key)
    assert checkpoint.root == rfc9162.mth([row.canonical.encode() for row in rows])
    for row in rows:
        response = client.get(f"/journal/inclusion/{row.id}")
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"leaf_index", "tree_size", "hashes", "checkpoint"}
        assert (body["leaf_index"], body["tree_size"]) == (row.seq - 1, 37)
        signed = rfc9162.open_checkpoint(body["checkpoint"], key)
        hashes = [bytes.fromhex(h) for h in body["hashes"]]
        assert rfc9162.verify_inclusion(row.seq - 1, 37, row.canonical.encode(), hashes, signed.root)
        assert not rfc9162.verify_inclusion(row.seq - 1, 37, row.canonical.encode() + b"x", hashes, signed.root)
        if hashes:
            assert not rfc9162.verify_inclusion(row.seq - 1, 37, row.canonical.encode(), hashes[:-1], signed.root)
    # Against an earlier checkpoint, on request.
    first = rows[0]
    body = client.get(f"/journal/inclusion/{first.id}?tree_size=7").get_json()
    earlier = rfc9162.open_checkpoint(body["checkpoint"], key)
    assert earlier.size == body["tree_size"] == 7
    hashes = [bytes.fromhex(h) for h in body["hashes"]]
    assert rfc9162.verify_inclusion(0, 7, first.canonical.encode(), hashes, earlier.root)


def test_every_pair_of_checkpoints_is_proven_consistent(client: FlaskClient, grown: list[int]) -> None:
    key = journal_key(client)
    roots = {
        size: rfc9162.open_checkpoint(client.get(f"/journal/checkpoint/{size}").get_data(as_text=True), key).root
        for size in grown
    }
    for old in grown:
        for new in grown:
            if old > new:
                continue
            response = client.get(f"/journal/consistency?from={old}&to={new}")
            assert response.status_code == 200, (old, new)
            hashes = [bytes.fromhex(h) for h in response.get_json()["hashes"]]
            assert rfc9162.verify_consistency(old, new, roots[old], roots[new], hashes), (old, new)
            if old < new:
                assert not rfc9162.verify_consistency(old, new, roots[old], roots[old], hashes)
                assert not rfc9162.verify_consistency(old, new, roots[new], roots[new], hashes)


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 400), ("?from=1", 400), ("?from=0&to=3", 400), ("?from=4&to=3", 400), ("?from=1&to=38", 400),
     ("?from=a&to=3", 400)],
)  # fmt: skip
def test_bad_consistency_requests_are_refused(client: FlaskClient, grown: list[int], query: str, status: int) -> None:
    response = client.get(f"/journal/consistency{query}")
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == "invalid_input"


def test_unknown_and_not_yet_logged_records(app: Flask, client: FlaskClient, deposit: Any) -> None:
    assert client.get("/journal/checkpoint").status_code == 404
    created = deposit()
    [row] = evidence_rows(app)
    response = client.get(f"/journal/inclusion/{row.id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_logged_yet"
    assert response.headers["Retry-After"] == "5"
    _checkpoint(app)
    assert client.get(f"/journal/inclusion/{row.id}").status_code == 200
    assert client.get("/journal/inclusion/no-such-record").status_code == 404
    assert client.get(f"/journal/inclusion/{'x' * 65}").status_code == 404
    assert client.get(f"/journal/inclusion/{row.id}?tree_size=5").status_code == 404
    assert created.status_code == 201


def test_a_tampered_stored_tree_gives_no_proof(app: Flask, client: FlaskClient, grown: list[int]) -> None:
    """Inclusion proofs are checked against the signed root before they are served."""
    rows = evidence_rows(app)
    with app.app_context():
        db.session.execute(
            text("UPDATE journal_nodes SET hash = :h WHERE level = 0 AND position = 5"), {"h": b"0" * 32}
        )
        db.session.commit()
        db.session.remove()
    assert client.get(f"/journal/inclusion/{rows[5].id}").status_code == 409
    assert client.get(f"/journal/inclusion/{rows[4].id}").status_code == 409  # its path uses that leaf
    assert client.get(f"/journal/inclusion/{rows[20].id}").status_code == 200


def test_the_checkpoint_is_cached_briefly_and_proofs_name_no_document(
    app: Flask, client: FlaskClient, grown: list[int]
) -> None:
    response = client.get("/journal/checkpoint")
    assert response.headers["Cache-Control"] == "public, max-age=5"
    body = json.dumps(client.get(f"/journal/inclusion/{evidence_rows(app)[0].id}").get_json())
    assert "mise-en-demeure" not in body
    assert "Alami" not in body
