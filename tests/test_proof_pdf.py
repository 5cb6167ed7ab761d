"""The PDF proofs as drawn (before signing): every kind in every language shows its facts.

No Flask app is needed: `webapp.trust.proof_pdf` is a pure rendering module.
"""

from __future__ import annotations

import dataclasses
import io
import time
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import qrcode
import qrcode.constants
from pypdf import PdfReader

from webapp.i18n import LANGUAGES
from webapp.labels import PROOF_KINDS as KINDS
from webapp.labels import PROOF_TEXTS_BY_LANGUAGE as LABELS
from webapp.trust.pdf_layout import MARGIN_X, PAGE_WIDTH, QR_MASK, QR_PIXELS_PER_MODULE, QR_QUIET_ZONE, qr_matrix
from webapp.trust.proof_pdf import (
    ProofEvent,
    ProofFacts,
    format_morocco,
    format_utc,
    render_proof_pdf,
)

START = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)

EVENT_LABELS = {
    "fr": ["Dépôt de la lettre", "Avis envoyé par SMS", "Avis remis par l'opérateur", "Acceptation"],
    "en": ["Letter deposited", "Notice sent by SMS", "Notice delivered by the operator", "Accepted"],
    "ar": ["إيداع الرسالة", "إرسال الإشعار عبر الرسائل القصيرة", "تسليم الإشعار من طرف المشغل", "القبول"],
}


def make_facts(kind: str = "reception", language: str = "fr", events: int = 4, **changes: Any) -> ProofFacts:
    labels = EVENT_LABELS[language]
    facts = ProofFacts(
        kind=kind,
        language=language,
        provider_name="Wassit",
        provider_details="Wassit SARL — prestataire de services de confiance, loi 43-20 — https://wassit.ma",
        letter_id="4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        reference=f"MED-{kind.upper()}-{language.upper()}-0042",
        sender_legal_name="Banque Atlas SA",
        sender_ice="001525874000089",
        sender_address="12, boulevard d'Anfa, 20000 Casablanca",
        recipient_name="محمد العلوي" if language == "ar" else "Mohamed El Alaoui",
        recipient_phone="+212612345678",
        recipient_email="m.alaoui@example.ma",
        document_name="إنذار بالأداء.pdf" if language == "ar" else "Mise en demeure — loyer impayé.pdf",
        document_size=248_731,
        document_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        events=tuple(
            ProofEvent(
                label=labels[index % len(labels)],
                # 13:30 UTC steps so that the Morocco date differs from the UTC date now and then.
                at=START + timedelta(hours=13, minutes=30) * index,
                evidence_id=f"0b7c1f2e-3d4c-4b5a-9f8e-7d6c5b4a3f{index:02d}",
                record_hash=f"{index:02d}9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a",
            )
            for index in range(events)
        ),
        chain_head_hash="5d1e3c8f0b7a9e2d4c6b8a0f1e3d5c7b9a1f3e5d7c9b1a3f5e7d9c1b3a5f7e9d",
        verify_url="https://wassit.ma/verify/0b7c1f2e-3d4c-4b5a-9f8e-7d6c5b4a3f03",
        issued_at=START + timedelta(days=2, seconds=12),
        reason="Le destinataire conteste la créance." if kind in ("refusal", "non_delivery") else None,
    )
    return dataclasses.replace(facts, **changes)


def page_texts(pdf: bytes) -> list[str]:
    """Extracted text per page, NFKC-normalised (Arabic presentation forms back to letters)."""
    reader = PdfReader(io.BytesIO(pdf))
    return [unicodedata.normalize("NFKC", page.extract_text()) for page in reader.pages]


def font_names(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_and_language_shows_the_facts(kind: str, language: str) -> None:
    facts = make_facts(kind, language)
    pdf = render_proof_pdf(facts)

    reader = PdfReader(io.BytesIO(pdf))
    assert 1 <= len(reader.pages) <= 2
    assert reader.pages[0].mediabox.width == pytest.approx(595.28, abs=0.01)  # A4
    assert reader.pages[0].mediabox.height == pytest.approx(841.89, abs=0.01)
    text = " ".join(" ".join(page_texts(pdf)).split())
    for value in (
        facts.reference,
        facts.letter_id,
        facts.document_sha256,
        facts.chain_head_hash,
        facts.recipient_phone,
        facts.recipient_email,
        facts.sender_ice,
        facts.verify_url,
    ):
        assert value is not None
        assert value in text
    for event in facts.events:
        assert event.evidence_id in text
        assert event.record_hash in text
        assert format_utc(event.at) in text
        assert format_morocco(event.at) in text
    if facts.reason:
        assert facts.reason in text

    title = LABELS[language][f"title.{kind}"]
    assert title in text
    if language == "ar":
        assert any("NotoSansArabic" in name for name in font_names(pdf))
        assert facts.recipient_name in text
    else:
        assert LABELS[language]["footer"] in text
        assert LABELS[language][f"statement.{kind}"] in text


def test_morocco_time_follows_the_legal_time_including_ramadan() -> None:
    assert format_utc(datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == "2026-11-23 23:30:00"
    assert format_morocco(datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == "2026-11-24 00:30:00 (UTC+1)"
    # Morocco goes back to UTC+0 during Ramadan (2026: mid-February to late March).
    assert format_morocco(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == "2026-03-01 12:00:00 (UTC+0)"
    # A naive datetime is taken as UTC, an aware one is converted.
    assert format_utc(datetime(2026, 11, 23, 10, 0)) == "2026-11-23 10:00:00"  # noqa: DTZ001
    paris = datetime(2026, 11, 23, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_utc(paris) == "2026-11-23 11:00:00"


def test_arabic_is_shaped_and_laid_out_right_to_left() -> None:
    pdf = render_proof_pdf(make_facts("reception", "ar"))
    raw = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    # Joined letters: the text is drawn with Arabic presentation forms (initial, medial, final).
    assert any(0xFE70 <= ord(ch) <= 0xFEFF for ch in raw)

    def title_x(pdf: bytes, title: str) -> float:
        found: list[float] = []

        def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
            if title in unicodedata.normalize("NFKC", text):
                found.append(float(tm[4]))

        PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
        assert found, title
        return found[0]

    assert title_x(pdf, "إثبات التسلم") > PAGE_WIDTH / 2  # right-aligned
    french = render_proof_pdf(make_facts("reception", "fr"))
    assert title_x(french, "Preuve de réception") == pytest.approx(MARGIN_X)


def test_mixed_content_keeps_each_script_in_a_font_that_has_it() -> None:
    facts = make_facts("deposit", "fr", recipient_name="محمد العلوي", document_name="عقد الكراء (contrat).pdf")
    pdf = render_proof_pdf(facts)
    text = page_texts(pdf)[0]
    assert "محمد العلوي" in text
    assert "contrat" in text
    names = font_names(pdf)
    assert any("NotoSansArabic" in name for name in names)
    assert any("NotoSans-Regular" in name for name in names)


def test_all_fonts_are_embedded() -> None:
    for language in LANGUAGES:
        reader = PdfReader(io.BytesIO(render_proof_pdf(make_facts("refusal", language))))
        for font in reader.pages[0]["/Resources"]["/Font"].values():
            font = font.get_object()
            assert font["/Subtype"] == "/TrueType"
            assert "/FontFile2" in font["/FontDescriptor"].get_object()


def test_metadata() -> None:
    facts = make_facts("negligence", "fr")
    reader = PdfReader(io.BytesIO(render_proof_pdf(facts)))
    info = reader.metadata
    assert info is not None
    assert info.title == f"Preuve de négligence — {facts.reference}"
    assert info.author == "Wassit"
    assert info.subject == LABELS["fr"]["statement.negligence"]
    assert info["/CreationDate"] == "D:20261125100017+00'00'"  # the issue time, not the clock
    assert reader.trailer["/Root"]["/Lang"] == "fr"
    arabic = PdfReader(io.BytesIO(render_proof_pdf(make_facts("negligence", "ar"))))
    assert arabic.trailer["/Root"]["/Lang"] == "ar"
    assert arabic.metadata is not None
    assert arabic.metadata.title == "إثبات الإهمال — MED-NEGLIGENCE-AR-0042"


def test_qr_code_encodes_the_verification_url() -> None:
    facts = make_facts("reception", "fr")
    reader = PdfReader(io.BytesIO(render_proof_pdf(facts)))
    images = reader.pages[0].images
    assert len(images) == 1
    image = images[0].image
    assert image is not None
    image = image.convert("L")

    # A valid code of the URL: what qrcode makes of it with the mask we fix (any of the eight is valid;
    # decoders read them all, see the next test), drawn module for module.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0, mask_pattern=QR_MASK)
    code.add_data(facts.verify_url)
    code.make(fit=True)
    expected = [[bool(module) for module in row] for row in code.get_matrix()]
    assert qr_matrix(facts.verify_url) == expected

    modules = len(expected) + 2 * QR_QUIET_ZONE
    assert image.size == (modules * QR_PIXELS_PER_MODULE, modules * QR_PIXELS_PER_MODULE)
    half = QR_PIXELS_PER_MODULE // 2
    drawn = [
        [
            image.getpixel(
                (
                    (column + QR_QUIET_ZONE) * QR_PIXELS_PER_MODULE + half,
                    (row + QR_QUIET_ZONE) * QR_PIXELS_PER_MODULE + half,
                )
            )
            < 128
            for column in range(len(expected))
        ]
        for row in range(len(expected))
    ]
    assert drawn == expected
    # The quiet zone is white.
    assert image.getpixel((half, half)) > 128


def test_qr_code_decodes_when_a_decoder_is_installed() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    facts = make_facts("refusal", "ar")
    image = PdfReader(io.BytesIO(render_proof_pdf(facts))).pages[0].images[0].image
    results = zxingcpp.read_barcodes(image)
    assert [result.text for result in results] == [facts.verify_url]


def test_output_is_reproducible() -> None:
    facts = make_facts("reception", "ar")
    first = render_proof_pdf(facts)
    assert render_proof_pdf(make_facts("reception", "ar")) == first
    assert render_proof_pdf(dataclasses.replace(facts, reference="OTHER-1")) != first


def test_long_event_lists_go_on_a_second_page() -> None:
    for language in LANGUAGES:
        facts = make_facts("negligence", language, events=16)
        pdf = render_proof_pdf(facts)
        texts = page_texts(pdf)
        assert len(texts) == 2
        joined = " ".join(" ".join(texts).split())
        for event in facts.events:
            assert event.evidence_id in joined
        assert facts.verify_url in texts[1]
    french = page_texts(render_proof_pdf(make_facts("negligence", "fr", events=16)))
    assert "Page 1 / 2" in french[0]
    assert "Page 2 / 2" in french[1]


def test_absurdly_long_values_do_not_break_the_layout() -> None:
    facts = make_facts(
        "refusal",
        "fr",
        reason="Je refuse cette lettre. " * 150,
        sender_address="Résidence les Jardins, immeuble 4, " * 40,
        document_name="x" * 400 + ".pdf",
        sender_ice=None,
        recipient_email=None,
        events=6,
    )
    pdf = render_proof_pdf(facts)
    texts = page_texts(pdf)
    assert 1 <= len(texts) <= 2
    assert "Non renseigné" in texts[0]
    assert facts.document_sha256 in " ".join(texts)


def test_a_minimal_proof_renders() -> None:
    pdf = render_proof_pdf(make_facts("deposit", "en", events=0, reason=None))
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_unknown_kind_is_refused_and_unknown_language_falls_back_to_french() -> None:
    with pytest.raises(ValueError, match="unknown proof kind"):
        render_proof_pdf(make_facts(kind="receipt"))
    text = page_texts(render_proof_pdf(dataclasses.replace(make_facts("deposit"), language="de")))[0]
    assert "Preuve de dépôt" in text


def test_labels_are_complete_in_every_language() -> None:
    keys = set(LABELS["fr"])
    assert {f"title.{kind}" for kind in KINDS} <= keys
    assert {f"statement.{kind}" for kind in KINDS} <= keys
    for language in LANGUAGES:
        assert set(LABELS[language]) == keys
    assert LABELS["fr"]["footer"] == (
        "Ce document est signé électroniquement (PAdES) et horodaté ; toute modification invalide la signature."
    )


def test_rendering_is_fast() -> None:
    proofs = [make_facts(KINDS[i % 5], LANGUAGES[i % 3], reference=f"PERF-{i}") for i in range(20)]
    began = time.perf_counter()
    for facts in proofs:
        render_proof_pdf(facts)
    assert time.perf_counter() - began < 3.0
