"""Render the facts of a proof as an unsigned A4 PDF.

This module only draws: it knows nothing of Flask, the database, the seal or
storage.  The caller gathers the facts (`ProofFacts`), texts included, already
translated into the proof's language (`webapp.labels.proof_texts`, from the
`proofs` catalogs), gets the PDF bytes from `render_proof_pdf`, then embeds
the evidence records and signs the result with pyHanko elsewhere.  Facts
without texts (a test, a benchmark) get those of their language.

The page is made of the blocks of `pdf_layout` (wrapping, Arabic shaping and
bidi, font runs); an Arabic proof is laid out right to left.  The output
depends only on the facts: reportlab runs in invariant mode and the PDF dates
are the proof's issue time.

Every proof is PDF/A-3b (see `pdfa`): XMP metadata that repeats the Info
dictionary, an sRGB output intent, embedded font subsets, and no character
drawn with a font's missing glyph.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

import reportlab
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfdoc import XMP, PDFArray, PDFCatalog, PDFDictionary, PDFName, PDFStream, PDFString
from reportlab.pdfgen.canvas import Canvas

from webapp.labels import PROOF_KINDS, proof_language, proof_texts
from webapp.trust.pdf_layout import (
    CONTENT_WIDTH,
    GAP,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    NAVY,
    PAD,
    PAGE_HEIGHT,
    RULE,
    S_CELL,
    S_CELL_MONO,
    S_DETAIL,
    S_FOOTER,
    S_HASH,
    S_PROVIDER,
    S_SMALL,
    S_SMALL_BOLD,
    S_TH,
    S_VALUE,
    S_VALUE_BOLD,
    SANS,
    Block,
    EventRow,
    EventsHeader,
    Intro,
    Layout,
    Para,
    Row,
    Section,
    Side,
    Style,
    Verification,
    clean_text,
    ensure_fonts,
    hline,
    paginate,
    shape,
    text_width,
)
from webapp.trust.pdfa import OUTPUT_CONDITION, DocumentInfo, srgb_profile, xmp_packet

__all__ = [
    "ProofEvent",
    "ProofFacts",
    "format_morocco",
    "format_utc",
    "render_proof_pdf",
]

MOROCCO = ZoneInfo("Africa/Casablanca")


@dataclass(frozen=True)
class ProofEvent:
    """One evidence event the proof relies on."""

    label: str  # already translated, e.g. "Dépôt de la lettre"
    at: datetime  # aware UTC
    evidence_id: str
    record_hash: str  # sha256 hex of the canonical record


@dataclass(frozen=True)
class ProofFacts:
    """Everything a proof shows; nothing else is read while rendering."""

    kind: str  # a ProofKind value: "deposit" | "reception" | "refusal" | "negligence" | "non_delivery" | "handover"
    language: str  # "fr" | "ar" | "en"
    provider_name: str
    provider_details: str
    letter_id: str
    reference: str
    sender_legal_name: str
    sender_ice: str | None
    sender_address: str | None
    recipient_name: str
    recipient_phone: str  # E.164
    recipient_email: str | None
    document_name: str
    document_size: int
    document_sha256: str
    events: tuple[ProofEvent, ...]
    chain_head_hash: str  # the record hash the proof is anchored on
    verify_url: str  # public verification page, the QR code's target
    issued_at: datetime
    reason: str | None = None  # refusal / non-delivery reason, when any
    sms_delivered_at: datetime | None = None  # the operator's delivery receipt of the notification SMS
    journal_size: int | None = None  # the journal checkpoint the proof was issued against: its tree size
    journal_root: str | None = None  # and its root hash (hex)
    # Where the seal and timestamps come from (already translated): a trial setup, or whose they are.
    trust_notice: str | None = None
    # The proof's texts in its language (`webapp.labels.proof_texts`), translated by whoever gathered
    # the facts; when None, those of `language`.
    texts: Mapping[str, str] | None = None
    # Issue 19: the recipient's identification by national digital identity, as (label, value) rows
    # already translated (`trust.proofs.identification_rows`); empty for the one-time code alone.
    identification: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------
# Values.


def _utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC, which is what the evidence records store.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """'2026-11-23 10:00:05' in UTC."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def format_morocco(moment: datetime) -> str:
    """'2026-11-23 11:00:05 (UTC+1)': legal time in Morocco (Africa/Casablanca)."""
    local = _utc(moment).astimezone(MOROCCO)
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    shift = f"{sign}{hours}" + (f":{rest:02d}" if rest else "")
    return f"{local:%Y-%m-%d %H:%M:%S} (UTC{shift})"


def _format_size(size: int, language: str, labels: Mapping[str, str]) -> str:
    if language == "fr":
        grouped = f"{size:,}".replace(",", "\u202f")
    elif language == "en":
        grouped = f"{size:,}"
    else:
        grouped = str(size)
    text = f"{grouped} {labels['bytes']}"
    value = float(size)
    unit = ""
    for candidate in ("kb", "mb", "gb"):
        if value < 1024:
            break
        value /= 1024
        unit = candidate
    if unit:
        amount = f"{value:.1f}"
        if language == "fr":
            amount = amount.replace(".", ",")
        text += f" ({amount} {labels[unit]})"
    return text


class _Renderer:
    def __init__(self, facts: ProofFacts) -> None:
        if facts.kind not in PROOF_KINDS:
            raise ValueError(f"unknown proof kind: {facts.kind!r}")
        self.facts = facts
        self.language = proof_language(facts.language)
        self.labels = facts.texts if facts.texts is not None else proof_texts(self.language)
        self.lay = Layout(self.language)

    # -- page furniture -------------------------------------------------

    def _header_parts(self) -> tuple[Para, Para, list[Para]]:
        lay, f, t = self.lay, self.facts, self.labels
        side = 150.0
        name = lay.data(f.provider_name, S_PROVIDER, CONTENT_WIDTH - side - 20, 2)
        details = lay.data(f.provider_details, S_SMALL, CONTENT_WIDTH - side - 20, 3)
        issued = [
            lay.text(t["issued"], S_SMALL, side),
            lay.data(format_utc(f.issued_at) + " UTC", S_SMALL_BOLD, side),
            lay.data(format_morocco(f.issued_at), S_SMALL, side),
        ]
        return name, details, issued

    def _header_height(self) -> float:
        name, details, issued = self._header_parts()
        return max(name.height + 1 + details.height, sum(p.height for p in issued))

    def _draw_header(self, c: Canvas) -> None:
        lay = self.lay
        name, details, issued = self._header_parts()
        top = PAGE_HEIGHT - MARGIN_TOP
        left = lay.x(MARGIN_X, CONTENT_WIDTH, 0, name.width)
        name.draw(c, left, top, lay.start)
        details.draw(c, left, top - name.height - 1, lay.start)
        y = top
        for para in issued:
            para.draw(c, lay.x(MARGIN_X, CONTENT_WIDTH, CONTENT_WIDTH - para.width, para.width), y, lay.end)
            y -= para.height
        rule = top - self._header_height() - 5
        hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, rule, NAVY, 1.4)

    def _footer(self, page: int, pages: int) -> tuple[Para, Para]:
        lay, t = self.lay, self.labels
        number = lay.text(t["page"].format(page=page, pages=pages), S_FOOTER, 70)
        sentence = lay.text(t["footer"], S_FOOTER, CONTENT_WIDTH - 80)
        return sentence, number

    def _draw_footer(self, c: Canvas, page: int, pages: int) -> None:
        lay = self.lay
        sentence, number = self._footer(page, pages)
        top = MARGIN_BOTTOM + sentence.height
        hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, top + 5, RULE, 0.6)
        sentence.draw(c, lay.x(MARGIN_X, CONTENT_WIDTH, 0, sentence.width), top, lay.start)
        number_left = lay.x(MARGIN_X, CONTENT_WIDTH, CONTENT_WIDTH - number.width, number.width)
        number.draw(c, number_left, top, lay.end)

    # -- content ----------------------------------------------------------

    def _blocks(self) -> list[Block]:
        lay, f, t = self.lay, self.facts, self.labels
        missing = t["not_provided"]
        reason = None
        if f.reason:
            reason = (t.get(f"reason.{f.kind}", t["reason"]), f.reason)
        blocks: list[Block] = [Intro(lay, t[f"title.{f.kind}"], t[f"statement.{f.kind}"], reason)]

        letter_rows: list[Row] = [
            (t["provider"], [(f.provider_name, S_VALUE_BOLD, True), (f.provider_details, S_DETAIL, True)]),
            (t["reference"], [(f.reference, S_VALUE_BOLD, True)]),
            (t["letter_id"], [(f.letter_id, S_HASH, True)]),
        ]
        if f.trust_notice:
            letter_rows.append((t["trust"], [(f.trust_notice, S_VALUE, False)]))
        blocks.append(Section(lay, t["letter"], letter_rows, MARGIN_X, CONTENT_WIDTH, 130))

        half = (CONTENT_WIDTH - GAP) / 2
        sender_rows: list[Row] = [
            (t["legal_name"], [(f.sender_legal_name, S_VALUE_BOLD, True)]),
            (t["ice"], [(f.sender_ice or missing, S_VALUE, bool(f.sender_ice))]),
            (t["address"], [(f.sender_address or missing, S_VALUE, bool(f.sender_address))]),
        ]
        recipient_rows: list[Row] = [
            (t["name"], [(f.recipient_name, S_VALUE_BOLD, True)]),
            (t["phone"], [(f.recipient_phone, S_VALUE, True)]),
            (t["email"], [(f.recipient_email or missing, S_VALUE, bool(f.recipient_email))]),
        ]
        if f.sms_delivered_at is not None:
            delivered = [
                (format_utc(f.sms_delivered_at) + " UTC", S_VALUE, True),
                (format_morocco(f.sms_delivered_at), S_DETAIL, True),
            ]
            recipient_rows.append((t["sms_delivered"], delivered))
        label_width = 92.0
        sender_left = lay.x(MARGIN_X, CONTENT_WIDTH, 0, half)
        recipient_left = lay.x(MARGIN_X, CONTENT_WIDTH, half + GAP, half)
        sender = Section(lay, t["sender"], sender_rows, sender_left, half, label_width)
        recipient = Section(lay, t["recipient"], recipient_rows, recipient_left, half, label_width)
        blocks.append(Side(sender, recipient))
        if f.identification:  # issue 19
            identification_rows: list[Row] = [(label, [(value, S_VALUE, True)]) for label, value in f.identification]
            blocks.append(Section(lay, t["identification"], identification_rows, MARGIN_X, CONTENT_WIDTH, 130))

        document_rows: list[Row] = [
            (t["file_name"], [(f.document_name, S_VALUE_BOLD, True)]),
            (t["size"], [(_format_size(f.document_size, self.language, t), S_VALUE, False)]),
            (t["sha256"], [(f.document_sha256, S_HASH, True)]),
        ]
        blocks.append(Section(lay, t["document"], document_rows, MARGIN_X, CONTENT_WIDTH, 130))

        blocks.extend(self._event_blocks())
        journal = None
        if f.journal_size and f.journal_root:
            journal = (t["journal"].format(size=f.journal_size), f.journal_root)
        blocks.append(
            Verification(
                lay, t["verification"], t["chain_hash"], f.chain_head_hash, f.verify_url, t["verify_text"], journal
            )
        )
        return blocks

    def _event_blocks(self) -> list[Block]:
        lay, f, t = self.lay, self.facts, self.labels
        utc_texts = [format_utc(event.at) for event in f.events]
        morocco_texts = [format_morocco(event.at) for event in f.events]

        def column(texts: Sequence[str], style: Style, heading: str, cap: float) -> float:
            widest = max([text_width(shape(text), style) for text in texts] or [0.0])
            heading_width = min(text_width(shape(heading), S_TH), cap * 0.8)
            return min(max(widest, heading_width) + 2 * PAD + 1, cap)

        widths = [
            0.0,
            column(utc_texts, S_CELL, t["utc"], 100),
            column(morocco_texts, S_CELL, t["morocco"], 135),
            column([event.evidence_id for event in f.events], S_CELL_MONO, t["evidence_id"], 170),
        ]
        widths[0] = CONTENT_WIDTH - sum(widths)
        header = EventsHeader(lay, t["events"], [t["event"], t["utc"], t["morocco"], t["evidence_id"]], widths)
        blocks: list[Block] = [header]
        for index, event in enumerate(f.events):
            cells = [
                lay.text(event.label, S_CELL, widths[0] - 2 * PAD),
                lay.data(utc_texts[index], S_CELL, widths[1] - 2 * PAD),
                lay.data(morocco_texts[index], S_CELL, widths[2] - 2 * PAD),
                lay.data(event.evidence_id, S_CELL_MONO, widths[3] - 2 * PAD),
            ]
            last = index == len(f.events) - 1
            row = EventRow(lay, cells, widths, t["record_hash"], event.record_hash, index % 2 == 1, last)
            row.header = header
            blocks.append(row)
        return blocks

    # -- pages ------------------------------------------------------------

    def _paginate(self, blocks: list[Block]) -> list[list[tuple[Block, float]]]:
        top = PAGE_HEIGHT - MARGIN_TOP - self._header_height() - 5 - 14
        sentence, _ = self._footer(1, 1)
        bottom = MARGIN_BOTTOM + sentence.height + 5 + 10
        return paginate(blocks, top, bottom)

    def render(self) -> bytes:
        f, t = self.facts, self.labels
        title = t[f"title.{f.kind}"]
        buffer = io.BytesIO()
        issued = _utc(f.issued_at)
        c = Canvas(
            buffer,
            pagesize=A4,
            invariant=1,
            pageCompression=1,
            pdfVersion=(1, 7),  # PDF/A-3 is a profile of PDF 1.7 (ISO 32000-1)
            lang=self.language,
            initialFontName=SANS,
            initialFontSize=9,
        )
        info = DocumentInfo(
            title=_plain(f"{title} — {f.reference}"),
            author=_plain(f.provider_name),
            subject=_plain(t[f"statement.{f.kind}"]),
            keywords=_plain(", ".join([f.kind, f.letter_id, f.reference])),
            creator=_plain(f.provider_name),
            producer=PRODUCER,
            created=issued,
            modified=issued,
        )
        c.setTitle(info.title)
        c.setAuthor(info.author)
        c.setSubject(info.subject)
        c.setCreator(info.creator)
        c.setKeywords(info.keywords)
        c.setProducer(info.producer)
        c.setDateFormatter(_pdf_date(issued))  # both CreationDate and ModDate
        _declare_pdfa(c, info)
        pages = self._paginate(self._blocks())
        for number, placed in enumerate(pages, start=1):
            self._draw_header(c)
            for block, top in placed:
                block.draw(c, top)
            self._draw_footer(c, number, len(pages))
            c.showPage()
        c.save()
        return buffer.getvalue()


PRODUCER = f"ReportLab PDF Library {reportlab.Version}"


class _PdfACatalog(PDFCatalog):  # type: ignore[misc]  # reportlab is untyped
    """reportlab's document catalog, with the /OutputIntents entry PDF/A needs.

    reportlab writes only the catalog keys its class lists; this one lists one more."""

    __NoDefault__: ClassVar[list[str]] = [*PDFCatalog.__NoDefault__, "OutputIntents"]
    __Refs__: ClassVar[list[str]] = PDFCatalog.__Refs__


def _declare_pdfa(c: Canvas, info: DocumentInfo) -> None:
    """The XMP metadata and the sRGB output intent of a PDF/A-3b document."""
    catalog = c._doc.Catalog
    catalog.__class__ = _PdfACatalog
    packet = xmp_packet(info)
    catalog.Metadata = XMP(creator=lambda _document: packet)
    profile = PDFStream(PDFDictionary({"N": 3}), srgb_profile())
    intent = {
        "Type": PDFName("OutputIntent"),
        "S": PDFName("GTS_PDFA1"),
        "OutputConditionIdentifier": PDFString(OUTPUT_CONDITION),
        "RegistryName": PDFString("http://www.color.org"),
        "Info": PDFString(OUTPUT_CONDITION),
        "DestOutputProfile": profile,
    }
    catalog.OutputIntents = PDFArray([PDFDictionary(intent)])


def _plain(text: str) -> str:
    """One line of text, without control characters (Info and XMP strings)."""
    return " ".join(clean_text(text).split())


def _pdf_date(moment: datetime) -> Callable[..., str]:
    stamp = moment.strftime("D:%Y%m%d%H%M%S+00'00'")

    def formatter(*_: int) -> str:
        return stamp

    return formatter


def render_proof_pdf(facts: ProofFacts) -> bytes:
    """The proof as an unsigned A4 PDF (one page, two for long event lists)."""
    ensure_fonts()
    return _Renderer(facts).render()
