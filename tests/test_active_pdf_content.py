"""PDFs with active content are refused at deposit, naming what was found (issue 17, finding 5).

JavaScript, Launch actions, embedded files and the like were deposited and served to recipients
as they were.  Now each is refused with a 422 `active_content` naming it (API, portal, bulk),
unless an operator allowed the organisation such documents; its recipients are then told what
the document holds before the download link.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    TextStringObject,
)
from sqlalchemy import func, select

from tests.conftest import Sender
from tests.portal_helpers import csrf_token, log_in
from tests.test_recipient import Flow, browser
from webapp.extensions import db
from webapp.labels import ACTIVE_CONTENT_LABELS
from webapp.letters.active_content import KINDS
from webapp.models import Letter, Organisation


def _pdf(build: Callable[[PdfWriter], None] | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if build is not None:
        build(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _action(**entries: Any) -> DictionaryObject:
    return DictionaryObject({NameObject(f"/{k}"): v for k, v in entries.items()})


def _link(writer: PdfWriter, action: DictionaryObject, subtype: str = "/Link") -> None:
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject(subtype),
            NameObject("/Rect"): ArrayObject([FloatObject(10), FloatObject(10), FloatObject(100), FloatObject(30)]),
            NameObject("/A"): action,
        }
    )
    page = writer.pages[0]
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])


def _open_action(action: DictionaryObject) -> Callable[[PdfWriter], None]:
    def build(writer: PdfWriter) -> None:
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)

    return build


def _document_js(writer: PdfWriter) -> None:
    """Document-level JavaScript: the catalogue's /Names /JavaScript name tree."""
    action = writer._add_object(_action(S=NameObject("/JavaScript"), JS=TextStringObject("app.alert('hello');")))
    tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("init"), action])})
    writer._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): tree})


def _xfa(writer: PdfWriter) -> None:
    stream = DecodedStreamObject()
    stream.set_data(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>")
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): writer._add_object(stream)}
    )


def _page_aa(writer: PdfWriter) -> None:
    writer.pages[0][NameObject("/AA")] = DictionaryObject(
        {NameObject("/O"): _action(S=NameObject("/JavaScript"), JS=TextStringObject("app.alert(1)"))}
    )


def _file_attachment(writer: PdfWriter) -> None:
    spec = DictionaryObject({NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject("a.exe")})
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/FileAttachment"),
            NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(10), FloatObject(10)]),
            NameObject("/FS"): spec,
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])


ACTIVE: dict[str, tuple[Callable[[PdfWriter], None], str]] = {
    "document JavaScript": (lambda w: _document_js(w), "javascript"),
    "OpenAction JavaScript": (
        _open_action(_action(S=NameObject("/JavaScript"), JS=TextStringObject("this.print();"))),
        "javascript",
    ),
    "page additional action": (_page_aa, "javascript"),
    "Launch action": (_open_action(_action(S=NameObject("/Launch"), F=TextStringObject("cmd.exe"))), "launch"),
    "remote go-to": (
        lambda w: _link(w, _action(S=NameObject("/GoToR"), F=TextStringObject("other.pdf"))),
        "launch",
    ),
    "file: URI": (
        lambda w: _link(w, _action(S=NameObject("/URI"), URI=TextStringObject("file:///C:/Windows/calc.exe"))),
        "uri_launch",
    ),
    "javascript: URI": (
        lambda w: _link(w, _action(S=NameObject("/URI"), URI=TextStringObject("javascript:alert(1)"))),
        "uri_launch",
    ),
    "SubmitForm": (
        lambda w: _link(w, _action(S=NameObject("/SubmitForm"), F=TextStringObject("https://x.ma/"))),
        "submit_form",
    ),
    "embedded file": (lambda w: w.add_attachment("facture.exe", b"MZ\x90\x00"), "embedded_files"),
    "file attachment annotation": (_file_attachment, "embedded_files"),
    "XFA form": (_xfa, "xfa"),
}


@pytest.mark.parametrize("case", list(ACTIVE))
def test_the_api_refuses_active_content_naming_it_and_stores_nothing(
    app: Flask, deposit: Callable[..., Any], case: str
) -> None:
    build, kind = ACTIVE[case]
    response = deposit(document=_pdf(build))
    assert response.status_code == 422, response.text
    error = response.get_json()["error"]
    assert error["code"] == "active_content"
    assert error["field"] == "document"
    assert KINDS[kind] in error["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Letter)) == 0


def test_several_kinds_are_all_named(deposit: Callable[..., Any]) -> None:
    def build(writer: PdfWriter) -> None:
        _document_js(writer)
        writer.add_attachment("a.txt", b"x")
        _xfa(writer)

    message = deposit(document=_pdf(build)).get_json()["error"]["message"]
    assert "JavaScript, embedded files, XFA forms" in message


def test_plain_documents_and_web_links_are_accepted(deposit: Callable[..., Any]) -> None:
    assert deposit(document=_pdf()).status_code == 201
    web_link = _pdf(lambda w: _link(w, _action(S=NameObject("/URI"), URI=TextStringObject("https://wassit.ma/aide"))))
    assert deposit(document=web_link).status_code == 201
    mail_link = _pdf(lambda w: _link(w, _action(S=NameObject("/URI"), URI=TextStringObject("mailto:a@b.ma"))))
    assert deposit(document=mail_link).status_code == 201


def test_every_kind_has_a_translated_label() -> None:
    assert set(ACTIVE_CONTENT_LABELS) == set(KINDS)


def test_the_portal_refuses_it_in_the_senders_language(client: FlaskClient, sender: Sender, app: Flask) -> None:
    log_in(client, sender)
    french = {"Accept-Language": "fr"}
    page = client.get("/letters/new", headers=french)
    response = client.post(
        "/letters/new",
        data={
            "csrf_token": csrf_token(page.text),
            "document": (io.BytesIO(_pdf(lambda w: w.add_attachment("a.exe", b"MZ"))), "lettre.pdf"),
            "recipient_name": "Youssef Alami",
            "recipient_phone": "0612345678",
            "language": "fr",
        },
        content_type="multipart/form-data",
        headers=french,
    )
    assert response.status_code == 422
    assert "contenu actif" in response.text
    assert "fichiers joints" in response.text


def test_bulk_rows_with_active_content_are_refused(client: FlaskClient, sender: Sender, app: Flask) -> None:
    csv = b"mobile,name\n0612345678,Youssef Alami\n"
    response = client.post(
        "/api/v1/batches",
        data={
            "csv": (io.BytesIO(csv), "destinataires.csv"),
            "document": (io.BytesIO(_pdf(lambda w: _document_js(w))), "lettre.pdf"),
        },
        content_type="multipart/form-data",
        headers=sender.auth,
    )
    assert response.status_code == 422, response.text
    assert "active_content" in response.text


def test_an_allowed_organisation_deposits_it_and_its_recipient_is_told_before_downloading(
    app: Flask, sender: Sender, deposit: Callable[..., Any], run_jobs: Callable[[], None], outbox: Any
) -> None:
    with app.app_context():
        org_name = db.session.get_one(Organisation, sender.organisation_id).name
    result = app.test_cli_runner().invoke(args=["org", "active-content", "--org", org_name, "--allow"])
    assert result.exit_code == 0, result.output
    assert "allowed" in result.output

    def build(writer: PdfWriter) -> None:
        _document_js(writer)
        writer.add_attachment("annexe.xlsx", b"PK")

    document = _pdf(build)
    flow = Flow(app, lambda **fields: deposit(document=document, **fields), run_jobs, outbox)
    letter = flow.letter()
    with app.app_context():
        assert db.session.get_one(Letter, letter.id).document_active_content == "javascript,embedded_files"
    [(event, deposit_record)] = flow.evidence(letter)[:1]
    assert event == "SubmissionAcceptance"
    assert deposit_record["details"]["active_content"] == ["javascript", "embedded_files"]

    # The sender sees it on the letter's page.
    portal = app.test_client()
    log_in(portal, sender)
    detail = portal.get(f"/letters/{letter.id}", headers={"Accept-Language": "en"}).text
    assert "Active content" in detail
    assert "JavaScript, embedded files" in detail

    recipient = browser(app)
    flow.identify(recipient, letter)
    page = recipient.get(f"{letter.path}/decision")
    token = csrf_token(page.text)
    accepted = recipient.post(f"{letter.path}/decision", data={"csrf_token": token, "decision": "accept"})
    assert accepted.status_code == 303
    shown = recipient.get(f"{letter.path}/letter").text
    warning = shown.index("This document contains active content: JavaScript, embedded files.")
    assert warning < shown.index(f'href="{letter.path}/document"')
    assert recipient.get(f"{letter.path}/document").data == document

    # Refused again once the operator takes the permission back.
    app.test_cli_runner().invoke(args=["org", "active-content", "--org", org_name, "--refuse"])
    assert deposit(document=document).status_code == 422


def test_a_plain_letters_page_shows_no_warning(flow_letter_page: str) -> None:
    assert "active content" not in flow_letter_page


@pytest.fixture
def flow_letter_page(app: Flask, deposit: Callable[..., Any], run_jobs: Callable[[], None], outbox: Any) -> str:
    flow = Flow(app, deposit, run_jobs, outbox)
    letter = flow.letter()
    recipient = browser(app)
    flow.identify(recipient, letter)
    page = recipient.get(f"{letter.path}/decision")
    recipient.post(f"{letter.path}/decision", data={"csrf_token": csrf_token(page.text), "decision": "accept"})
    text: str = recipient.get(f"{letter.path}/letter").text
    return text


def _update_adding_javascript(base: bytes) -> bytes:
    """An incremental update (ISO 32000 §7.5.6) of `base` whose new catalogue opens with JavaScript."""
    reader = PdfReader(io.BytesIO(base))
    root = reader.trailer.raw_get("/Root")
    pages = reader.trailer["/Root"].raw_get("/Pages")
    prev = int(base[base.rindex(b"startxref") + len(b"startxref") :].split()[0])
    offset = len(base) + 1
    body = (
        f"{root.idnum} 0 obj\n<< /Type /Catalog /Pages {pages.idnum} 0 R"
        " /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>\nendobj\n"
    ).encode()
    xref = len(base) + 1 + len(body)
    return (
        base
        + b"\n"
        + body
        + f"xref\n{root.idnum} 1\n{offset:010d} 00000 n \n".encode()
        + f"trailer\n<< /Size {reader.trailer['/Size']} /Root {root.idnum} 0 R /Prev {prev} >>\n".encode()
        + f"startxref\n{xref}\n".encode()
    )


def test_an_update_without_its_eof_marker_is_still_read_whole(deposit: Callable[..., Any]) -> None:
    """Bytes after the last %%EOF are skipped by the check (a scanner's padding costs pypdf seconds),
    but not when they hold structure: an incremental update adding JavaScript, its %%EOF left off."""
    base = _pdf()
    update = _update_adding_javascript(base)
    with_marker = deposit(document=update + b"%%EOF\n")
    assert with_marker.status_code == 422, with_marker.text
    without_marker = deposit(document=update)
    assert without_marker.status_code == 422, without_marker.text
    padded = deposit(document=base + b"\n%" + b"x" * 300_000)
    assert padded.status_code == 201, padded.text
