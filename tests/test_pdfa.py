"""Proofs are PDF/A-3b, their evidence travels as associated files, and both survive signing and later revisions.

Checked with `tests/pdfa_check.py` (the structural PDF/A-3b rules, read with
pypdf, `xml.etree` and asn1crypto), poppler's `pdfinfo`/`pdffonts` and `qpdf
--check`, and pyHanko's validator for the signatures; none of them is the code
under test.  Each check is also shown to fail on a file that breaks its rule.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, FileSpec, embed_file
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from tests.conftest import Sender
from tests.pdfa_check import (
    DC,
    PDF,
    PDFAID,
    XMP,
    metadata_of,
    missing_tools,
    parse_pdf_date,
    pdfa3b_problems,
    tool_problems,
)
from tests.test_proof_pdf import make_facts, page_texts
from tests.trust_helpers import Letters, attachments, evidence_rows, proof_row, root_certificate, validate_pdf
from webapp.clock import FrozenClock
from webapp.i18n import LANGUAGES
from webapp.labels import PROOF_KINDS as KINDS
from webapp.labels import PROOF_TEXTS_BY_LANGUAGE as LABELS
from webapp.services import Services
from webapp.trust.aio import run_sync
from webapp.trust.pdfa import AttachmentError, attach_file, prepare_update
from webapp.trust.proof_pdf import render_proof_pdf
from webapp.trust.proofs import PROOF_EVENTS, SHOWN_EVENTS, record_stem

SIGNED_BY = f"pyHanko {version('pyhanko')}"  # what pyHanko writes as the producer of each revision it adds


@pytest.fixture
def letters(app: Flask, client: FlaskClient, sender: Sender, deposit: Any, run_jobs: Any, outbox: Any) -> Letters:
    return Letters(app, client, sender, deposit, run_jobs, outbox)


def _services(app: Flask) -> Services:
    services: Services = app.extensions["wassit"]
    return services


def _assert_tools_agree(pdf: bytes) -> None:
    """poppler and qpdf find nothing wrong (when installed; on CI they must be: `make test` installs them)."""
    missing = missing_tools()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} not installed; CI is set, so the PDF/A tests may not skip them")
        return
    assert tool_problems(pdf) == []


def test_poppler_and_qpdf_are_installed() -> None:
    """Makes a missing pdfinfo, pdffonts or qpdf visible in the report instead of silently checking less."""
    missing = missing_tools()
    if missing and os.environ.get("CI"):
        pytest.fail(f"{', '.join(missing)} not installed on CI (`make test` installs poppler-utils and qpdf)")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (`make test` installs poppler-utils and qpdf)")


# --- as rendered -----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_rendered_proof_is_pdfa3b(kind: str, language: str) -> None:
    facts = make_facts(kind, language)
    pdf = render_proof_pdf(facts)
    assert pdfa3b_problems(pdf) == []
    assert pdf.startswith(b"%PDF-1.7\n")

    _, xmp, info = metadata_of(pdf)
    assert xmp.text(PDFAID, "part") == "3"
    assert xmp.text(PDFAID, "conformance") == "B"
    title = f"{LABELS[language][f'title.{kind}']} — {facts.reference}"
    assert info["/Title"] == xmp.default(DC, "title") == title
    assert xmp.default(DC, "description") == LABELS[language][f"statement.{kind}"]
    assert xmp.default(DC, "creator") == xmp.text(XMP, "CreatorTool") == facts.provider_name
    assert xmp.text(PDF, "Keywords") == f"{kind}, {facts.letter_id}, {facts.reference}"
    assert datetime.fromisoformat(xmp.text(XMP, "CreateDate") or "") == facts.issued_at
    assert parse_pdf_date(info["/ModDate"]) == facts.issued_at
    assert "/Version" not in PdfReader(io.BytesIO(pdf)).trailer["/Root"]  # PDF 1.7, as PDF/A-3 is


@pytest.mark.parametrize("language", LANGUAGES)
def test_poppler_and_qpdf_accept_the_rendered_proofs(language: str) -> None:
    pdf = render_proof_pdf(make_facts("refusal", language, events=16))  # two pages
    _assert_tools_agree(pdf)


def test_a_character_no_font_has_is_drawn_as_the_replacement_character() -> None:
    # PDF/A forbids drawing a font's missing glyph (.notdef); the evidence records keep the real name.
    facts = make_facts("deposit", "fr", document_name="Bail 🏠 signé.pdf", recipient_name="Amina 🌙 Idrissi")
    pdf = render_proof_pdf(facts)
    text = " ".join(page_texts(pdf))
    assert "Bail \ufffd signé.pdf" in text
    assert "Amina \ufffd Idrissi" in text
    assert "🏠" not in text
    assert pdfa3b_problems(pdf) == []


# --- signed, as served -----------------------------------------------------------------------------


def _signed_recently(text: str | None) -> bool:
    """An XMP date with its offset, at most an hour ago: pyHanko dates each revision it writes, by the wall clock."""
    moment = datetime.fromisoformat(text or "")
    return moment.tzinfo is not None and timedelta(0) <= datetime.now(UTC) - moment < timedelta(hours=1)


def _letter_with_proof(letters: Letters, kind: str, language: str) -> str:
    letter_id, path = letters.notified(language=language)
    if kind == "reception":
        letters.decide(path, "accept")
    elif kind == "refusal":
        letters.decide(path, "refuse", reason="Je conteste la créance")
    letters.run_jobs()
    return letter_id


@pytest.mark.parametrize(("kind", "language"), [("deposit", "fr"), ("reception", "ar"), ("refusal", "en")])
def test_signed_proofs_are_pdfa3b_with_the_evidence_as_associated_files(
    app: Flask, client: FlaskClient, letters: Letters, clock: FrozenClock, kind: str, language: str
) -> None:
    letter_id = _letter_with_proof(letters, kind, language)
    proof = letters.proof(letter_id, kind)
    assert pdfa3b_problems(proof) == []
    _assert_tools_agree(proof)

    # The signature's revision kept the metadata in step: pyHanko's name as producer in both, the time of
    # the signature as the XMP's modification date, and no Info /ModDate left to disagree with it.
    row = proof_row(app, letter_id, kind)
    assert row.issued_at is not None
    _, xmp, info = metadata_of(proof)
    assert info["/Producer"] == xmp.text(PDF, "Producer") == SIGNED_BY
    assert "/ModDate" not in info
    assert _signed_recently(xmp.text(XMP, "ModifyDate"))
    issued = row.issued_at.replace(tzinfo=UTC, microsecond=0)
    assert parse_pdf_date(info["/CreationDate"]) == datetime.fromisoformat(xmp.text(XMP, "CreateDate") or "") == issued
    assert xmp.text(PDFAID, "part") == "3"
    assert xmp.default(DC, "title") == info["/Title"]
    assert info["/Title"].startswith(LABELS[language][f"title.{kind}"])

    # Each record the proof lists, its inclusion proof, and the checkpoint with its timestamp and seal
    # are associated files of the whole document.
    records = evidence_rows(app, letter_id)
    [trigger] = [record for record in records if record.event == PROOF_EVENTS[kind]]  # type: ignore[index]
    shown = [record for record in records if record.seq <= trigger.seq and record.event in SHOWN_EVENTS]
    reader = PdfReader(io.BytesIO(proof))
    catalog = reader.trailer["/Root"]
    associated = {str(spec.get_object()["/UF"]): spec.get_object() for spec in catalog["/AF"]}
    embedded = attachments(proof)
    assert set(associated) == set(embedded)
    for record in shown:
        for name, mime, data in (
            (f"{record_stem(record)}.json", "/application/json", record.canonical.encode("utf-8")),
            (f"inclusion-{record.seq:08d}.json", "/application/json", None),
        ):
            spec = associated[name]
            assert spec["/F"] == name
            assert spec["/AFRelationship"] == "/Supplement"
            assert record.id in spec["/Desc"]
            stream = spec["/EF"]["/F"].get_object()
            assert stream["/Subtype"] == mime
            assert stream.get_data() == embedded[name]
            if data is not None:
                assert stream.get_data() == data
                occurred = record.occurred_at.replace(tzinfo=UTC, microsecond=0)
                assert parse_pdf_date(str(params_of(stream)["/ModDate"])) == occurred
            assert params_of(stream)["/Size"] == len(embedded[name])
    for name, mime in (
        ("journal-checkpoint.txt", "/text/plain"),
        ("journal-checkpoint.tsr", "/application/timestamp-reply"),
        ("journal-checkpoint.p7s", "/application/pkcs7-signature"),
    ):
        spec = associated[name]
        assert spec["/AFRelationship"] == "/Supplement"
        assert spec["/EF"]["/F"].get_object()["/Subtype"] == mime

    # And the signature still holds, over the whole file.
    validity = validate_pdf(proof, root_certificate(client))
    assert validity.intact
    assert validity.valid
    assert validity.trusted
    # The seal covers its revision; only validation data and archive timestamps follow it (B-LTA).
    assert validity.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert validity.modification_level == ModificationLevel.LTA_UPDATES
    assert validity.docmdp_ok


def params_of(stream: Any) -> Any:
    return stream["/Params"]


def test_a_proof_stays_pdfa3b_when_a_revision_follows_its_signature(
    app: Flask, client: FlaskClient, letters: Letters
) -> None:
    """As PAdES B-LTA adds a DSS and document timestamps after the seal: the file goes on, PDF/A all along."""
    letter_id, _ = letters.notified()
    proof = letters.proof(letter_id, "deposit")
    services = _services(app)

    writer = IncrementalPdfFileWriter(io.BytesIO(proof))
    prepare_update(writer)
    output = io.BytesIO()
    stamper = PdfTimeStamper(services.trust.timestamper)
    run_sync(stamper.async_timestamp_pdf(writer, md_algorithm="sha256", output=output))
    stamped = output.getvalue()
    assert stamped.startswith(proof)
    assert len(stamped) > len(proof)

    assert pdfa3b_problems(stamped) == []
    _assert_tools_agree(stamped)
    _, xmp, info = metadata_of(stamped)
    assert "/ModDate" not in info
    assert _signed_recently(xmp.text(XMP, "ModifyDate"))
    assert info["/Producer"] == xmp.text(PDF, "Producer") == SIGNED_BY

    # The seal covers its own revision and allows the timestamp; the timestamp covers the whole file.
    root = root_certificate(client)
    # The proof already ends with its first archive timestamp (B-LTA); this one comes after it.
    seal, *_, timestamp = PdfFileReader(io.BytesIO(stamped), strict=False).embedded_signatures
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    seal_status = run_sync(async_validate_pdf_signature(seal, signer_validation_context=context))
    assert seal_status.intact
    assert seal_status.valid
    assert seal_status.trusted
    assert seal_status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert seal_status.docmdp_ok
    timestamp_status = run_sync(async_validate_pdf_timestamp(timestamp, validation_context=context))
    assert timestamp_status.intact
    assert timestamp_status.valid
    assert timestamp_status.trusted
    assert timestamp_status.coverage == SignatureCoverageLevel.ENTIRE_FILE


# --- attach_file -----------------------------------------------------------------------------------

MOMENT = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """One incremental update of `pdf` made by `change`."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    change(writer)
    prepare_update(writer)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _attach(name: str, data: bytes, mime_type: str = "application/json") -> Callable[[IncrementalPdfFileWriter], None]:
    def change(writer: IncrementalPdfFileWriter) -> None:
        attach_file(writer, name=name, data=data, mime_type=mime_type, description=f"about {name}", modified=MOMENT)

    return change


def test_attachments_made_in_later_revisions_are_associated_and_sorted() -> None:
    pdf = render_proof_pdf(make_facts("reception", "fr"))
    first = _update(pdf, _attach("evidence-00000002-ConsignmentAcceptance.json", b'{"b": 2}'))

    def two_more(writer: IncrementalPdfFileWriter) -> None:
        _attach("checkpoint.txt", b"wassit.ma/journal\n2\nAAAA\n", "text/plain")(writer)
        _attach("evidence-00000001-SubmissionAcceptance.json", b'{"a": 1}')(writer)

    second = _update(first, two_more)
    assert pdfa3b_problems(second) == []
    _assert_tools_agree(second)
    assert attachments(second) == {
        "checkpoint.txt": b"wassit.ma/journal\n2\nAAAA\n",
        "evidence-00000001-SubmissionAcceptance.json": b'{"a": 1}',
        "evidence-00000002-ConsignmentAcceptance.json": b'{"b": 2}',
    }
    catalog = PdfReader(io.BytesIO(second)).trailer["/Root"]
    assert len(catalog["/AF"]) == 3
    names = catalog["/Names"]["/EmbeddedFiles"]["/Names"]
    assert [str(names[index]) for index in range(0, len(names), 2)] == sorted(attachments(second))
    # Associating files does not make the document PDF 2.0 (which PDF/A-3, a PDF 1.7 profile, is not).
    assert second.startswith(b"%PDF-1.7")
    assert "/Version" not in catalog


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "evidence/1.json"}, "attachment name"),
        ({"name": "preuve-dépôt.json"}, "attachment name"),
        ({"name": ""}, "attachment name"),
        ({"mime_type": "json"}, "not a MIME type"),
        ({"mime_type": "text/plain; charset=utf-8"}, "not a MIME type"),
        ({"relationship": "Evidence"}, "unknown relationship"),
        ({"description": "two\x00parts"}, "control characters"),
        ({"name": "taken.json"}, "already in the document"),
    ],
)
def test_attach_file_refuses_what_pdfa_would_not_accept(changes: dict[str, str], message: str) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(render_proof_pdf(make_facts("deposit", "en"))))
    attach_file(writer, name="taken.json", data=b"{}", mime_type="application/json", description="x", modified=MOMENT)
    arguments: dict[str, Any] = {
        "name": "record.json",
        "data": b"{}",
        "mime_type": "application/json",
        "description": "a record",
        "modified": MOMENT,
        **changes,
    }
    with pytest.raises(AttachmentError, match=message):
        attach_file(writer, **arguments)


# --- the check fails where it should ---------------------------------------------------------------


def _plain_pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setFont("Helvetica", 12)
    canvas.drawString(72, 770, "Not an archive document")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def test_the_check_finds_what_a_plain_pdf_lacks() -> None:
    problems = "\n".join(pdfa3b_problems(_plain_pdf()))
    assert "the catalog has no /Metadata stream" in problems
    assert "the catalog has no /OutputIntents" in problems
    assert "font /Helvetica is not embedded" in problems


def _embed_plainly(writer: IncrementalPdfFileWriter) -> None:
    """An attachment as pyHanko makes it by default: no /AF, no relationship, no modification date."""
    for name in ("zz.json", "aa.json"):  # appended unsorted
        stream = EmbeddedFileObject.from_file_data(writer, data=b"{}", mime_type="application/json")
        embed_file(writer, FileSpec(file_spec_string=name, file_name=name, embedded_data=stream, description=name))


def _retitle(writer: IncrementalPdfFileWriter) -> None:
    info = writer.trailer.raw_get("/Info")
    writer.mark_update(info)
    info.get_object()["/Title"] = generic.TextStringObject("Autre titre")


def _hidden_note(writer: IncrementalPdfFileWriter) -> None:
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    annotation = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
            generic.pdf_name("/Rect"): generic.ArrayObject(map(generic.NumberObject, (10, 10, 30, 30))),
            generic.pdf_name("/F"): generic.NumberObject(2),
            generic.pdf_name("/Contents"): generic.TextStringObject("hidden"),
        }
    )
    writer.register_annotation(page_ref, writer.add_object(annotation))


def _javascript(writer: IncrementalPdfFileWriter) -> None:
    action = generic.DictionaryObject(
        {
            generic.pdf_name("/S"): generic.pdf_name("/JavaScript"),
            generic.pdf_name("/JS"): generic.TextStringObject("app.alert('hello')"),
        }
    )
    writer.root["/OpenAction"] = writer.add_object(action)
    writer.update_root()


def _other_intent(writer: IncrementalPdfFileWriter) -> None:
    profile = generic.StreamObject({generic.pdf_name("/N"): generic.NumberObject(4)}, stream_data=b"x" * 200)
    intent = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/OutputIntent"),
            generic.pdf_name("/S"): generic.pdf_name("/GTS_PDFA1"),
            generic.pdf_name("/OutputConditionIdentifier"): generic.TextStringObject("CMYK"),
            generic.pdf_name("/DestOutputProfile"): writer.add_object(profile),
        }
    )
    writer.root["/OutputIntents"] = generic.ArrayObject([intent])
    writer.update_root()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _embed_plainly,
            [
                "zz.json is not listed in the catalog's /AF",
                "zz.json has no valid /AFRelationship",
                "the embedded stream of aa.json has no /Params /ModDate",
                "the /EmbeddedFiles name tree is not sorted",
            ],
        ),
        (_retitle, ["Info /Title 'Autre titre' differs from XMP title"]),
        (
            _hidden_note,
            ["Text annotation is hidden", "Text annotation does not have the print flag", "no appearance stream"],
        ),
        (_javascript, ["is a JavaScript action", "holds JavaScript"]),
        (_other_intent, ["/N is 4, not 3", "not an ICC profile"]),
    ],
    ids=["plain-attachments", "info-xmp-mismatch", "hidden-annotation", "javascript", "bad-output-intent"],
)
def test_the_check_finds_each_broken_rule(
    change: Callable[[IncrementalPdfFileWriter], None], expected: list[str]
) -> None:
    pdf = render_proof_pdf(make_facts("deposit", "fr"))
    assert pdfa3b_problems(pdf) == []
    problems = "\n".join(pdfa3b_problems(_update(pdf, change)))
    for message in expected:
        assert message in problems


def test_without_prepare_update_pyhanko_leaves_the_producers_disagreeing() -> None:
    # Why every revision goes through prepare_update: pyHanko appends its name to the Info producer but
    # replaces the XMP one.
    pdf = render_proof_pdf(make_facts("deposit", "fr"))
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.update_root()  # any change: pyHanko writes no empty revision
    output = io.BytesIO()
    writer.write(output)
    problems = "\n".join(pdfa3b_problems(output.getvalue()))
    assert f"Info /Producer 'ReportLab PDF Library {version('reportlab')}; {SIGNED_BY}' differs" in problems


def test_the_check_finds_trailing_bytes_encryption_and_a_cut_signature(
    app: Flask, client: FlaskClient, letters: Letters
) -> None:
    pdf = render_proof_pdf(make_facts("deposit", "fr"))
    assert "something other than one end-of-line follows the last %%EOF" in "\n".join(pdfa3b_problems(pdf + b"junk\n"))

    encrypted = PdfWriter(clone_from=io.BytesIO(pdf))
    encrypted.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    output = io.BytesIO()
    encrypted.write(output)
    assert "the file is encrypted" in "\n".join(pdfa3b_problems(output.getvalue()))

    # A signature whose byte range stops short of the end of its revision.
    letter_id, _ = letters.notified()
    proof = letters.proof(letter_id, "deposit")
    start = proof.rindex(b"/ByteRange")
    numbers = proof[proof.index(b"[", start) + 1 : proof.index(b"]", start)]
    first, length, second, rest = (int(n) for n in numbers.split())
    shorter = f"{first} {length} {second} {rest - 7}".encode().ljust(len(numbers))
    cut = proof.replace(numbers, shorter, 1)
    assert "does not end where a revision of the file ends" in "\n".join(pdfa3b_problems(cut))
