"""Render the facts of a proof as an unsigned A4 PDF.

This module only draws: it knows nothing of Flask, the database, the seal or
storage.  The caller gathers the facts (`ProofFacts`), gets the PDF bytes from
`render_proof_pdf`, then embeds the evidence records and signs the result with
pyHanko elsewhere.

Text is laid out by hand on a reportlab canvas so that Arabic works: every line
is wrapped in logical order, then shaped with `arabic_reshaper` (joined letter
forms) and reordered with python-bidi's `get_display` (right-to-left runs,
mirrored brackets), and each visual run is drawn in a font that has its glyphs:
Noto Sans Arabic for Arabic script, Noto Sans (or Noto Sans Mono for hashes
and identifiers) for the rest.  An Arabic proof is laid out right to left.

The fonts are vendored in `fonts/` (SIL OFL 1.1, see `fonts/README.md`) and
registered once, lazily.  The output depends only on the facts: reportlab runs
in invariant mode and the PDF dates are the proof's issue time.

Every proof is PDF/A-3b (see `pdfa`): XMP metadata that repeats the Info
dictionary, an sRGB output intent, embedded font subsets, and no character
drawn with a font's missing glyph (one no font has is drawn as U+FFFD).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

import arabic_reshaper
import qrcode
import qrcode.constants
import reportlab
from bidi.algorithm import get_display
from PIL import Image
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import XMP, PDFArray, PDFCatalog, PDFDictionary, PDFName, PDFStream, PDFString
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from webapp.i18n import LANGUAGES
from webapp.trust.pdfa import OUTPUT_CONDITION, DocumentInfo, srgb_profile, xmp_packet

__all__ = [
    "KINDS",
    "LABELS",
    "LANGUAGES",
    "ProofEvent",
    "ProofFacts",
    "format_morocco",
    "format_utc",
    "qr_matrix",
    "render_proof_pdf",
]

KINDS = ("deposit", "reception", "refusal", "negligence", "non_delivery", "handover")
MOROCCO = ZoneInfo("Africa/Casablanca")
FONT_DIR = Path(__file__).resolve().parent / "fonts"


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

    kind: str  # "deposit" | "reception" | "refusal" | "negligence" | "non_delivery" | "handover"
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


# --------------------------------------------------------------------------
# Static texts.  The app's Babel catalogs are not used for PDFs.

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "title.deposit": "Preuve de dépôt",
        "title.reception": "Preuve de réception",
        "title.refusal": "Preuve de refus",
        "title.negligence": "Preuve de négligence",
        "title.non_delivery": "Preuve de non-distribution",
        "title.handover": "Preuve de remise du document",
        "statement.deposit": (
            "Le prestataire atteste que l'expéditeur identifié ci-dessous a déposé auprès de lui la "
            "lettre recommandée électronique désignée ci-après, à la date et à l'heure indiquées."
        ),
        "statement.reception": (
            "Le prestataire atteste que le destinataire identifié ci-dessous a accepté la lettre "
            "recommandée électronique désignée ci-après."
        ),
        "statement.refusal": (
            "Le prestataire atteste que le destinataire identifié ci-dessous a refusé la lettre "
            "recommandée électronique désignée ci-après."
        ),
        "statement.negligence": (
            "Le prestataire atteste que le destinataire identifié ci-dessous, dûment avisé, n'a ni "
            "accepté ni refusé la lettre recommandée électronique désignée ci-après dans le délai "
            "imparti."
        ),
        "statement.non_delivery": (
            "Le prestataire atteste que la lettre recommandée électronique désignée ci-après n'a pas "
            "pu être remise au destinataire identifié ci-dessous."
        ),
        "statement.handover": (
            "Le prestataire atteste que le destinataire identifié ci-dessous, après avoir accepté la "
            "lettre recommandée électronique désignée ci-après et s'être identifié par un code à usage "
            "unique reçu par SMS, en a téléchargé le document, dont l'empreinte figure ci-dessous, à la "
            "date et à l'heure indiquées."
        ),
        "letter": "Lettre recommandée électronique",
        "provider": "Prestataire",
        "reference": "Référence",
        "letter_id": "Identifiant de la lettre",
        "sender": "Expéditeur",
        "legal_name": "Nom ou raison sociale",
        "ice": "ICE",
        "address": "Adresse",
        "recipient": "Destinataire",
        "name": "Nom",
        "phone": "Téléphone",
        "email": "Adresse électronique",
        "sms_delivered": "SMS remis au téléphone",
        "document": "Document",
        "file_name": "Nom du fichier",
        "size": "Taille",
        "sha256": "Empreinte SHA-256",
        "events": "Événements attestés",
        "event": "Événement",
        "utc": "Date et heure (UTC)",
        "morocco": "Heure du Maroc",
        "evidence_id": "Identifiant de preuve",
        "record_hash": "Empreinte de l'enregistrement",
        "chain_hash": "Empreinte de la chaîne de preuves (SHA-256)",
        "journal": "Journal de transparence : point de contrôle de {size} enregistrements, racine (SHA-256)",
        "verification": "Vérification",
        "verify_text": (
            "Pour vérifier l'authenticité de cette preuve, scannez le code QR ou ouvrez l'adresse "
            "ci-dessous : la page de vérification publique du prestataire confirme l'intégrité de la "
            "preuve et de la chaîne de preuves."
        ),
        "issued": "Émise le",
        "not_provided": "Non renseigné",
        "reason": "Motif",
        "reason.refusal": "Motif du refus",
        "reason.non_delivery": "Motif de la non-distribution",
        "bytes": "octets",
        "kb": "Ko",
        "mb": "Mo",
        "gb": "Go",
        "page": "Page {page} / {pages}",
        "footer": (
            "Ce document est signé électroniquement (PAdES) et horodaté ; toute modification invalide la signature."
        ),
        "trust": "Cachet et horodatage",
        "trust.trial": (
            "Installation d'essai : le cachet et les horodatages viennent de l'autorité locale intégrée. "
            "Ce n'est pas un service qualifié ; cette preuve n'a pas de valeur devant un tribunal."
        ),
        "trust.configured": "Cachet « {seal} », certificat émis par {issuer} ; horodatage : {tsa}.",
        "trust.tsa_issued_by": "{tsa} (certificat émis par {issuer})",
    },
    "en": {
        "title.deposit": "Proof of deposit",
        "title.reception": "Proof of reception",
        "title.refusal": "Proof of refusal",
        "title.negligence": "Proof of negligence",
        "title.non_delivery": "Proof of non-delivery",
        "title.handover": "Proof of handover",
        "statement.deposit": (
            "The provider certifies that the sender identified below deposited with it the electronic "
            "registered letter described hereafter, at the date and time stated."
        ),
        "statement.reception": (
            "The provider certifies that the recipient identified below accepted the electronic "
            "registered letter described hereafter."
        ),
        "statement.refusal": (
            "The provider certifies that the recipient identified below refused the electronic "
            "registered letter described hereafter."
        ),
        "statement.negligence": (
            "The provider certifies that the recipient identified below, duly notified, neither "
            "accepted nor refused the electronic registered letter described hereafter within the "
            "time allowed."
        ),
        "statement.non_delivery": (
            "The provider certifies that the electronic registered letter described hereafter could "
            "not be delivered to the recipient identified below."
        ),
        "statement.handover": (
            "The provider certifies that the recipient identified below, having accepted the electronic "
            "registered letter described hereafter and identified with a one-time code received by SMS, "
            "downloaded its document, whose fingerprint is given below, at the date and time stated."
        ),
        "letter": "Electronic registered letter",
        "provider": "Provider",
        "reference": "Reference",
        "letter_id": "Letter ID",
        "sender": "Sender",
        "legal_name": "Legal name",
        "ice": "ICE",
        "address": "Address",
        "recipient": "Recipient",
        "name": "Name",
        "phone": "Phone",
        "email": "Email",
        "sms_delivered": "SMS delivered to the phone",
        "document": "Document",
        "file_name": "File name",
        "size": "Size",
        "sha256": "SHA-256 fingerprint",
        "events": "Attested events",
        "event": "Event",
        "utc": "Date and time (UTC)",
        "morocco": "Morocco time",
        "evidence_id": "Evidence ID",
        "record_hash": "Record fingerprint",
        "chain_hash": "Evidence chain fingerprint (SHA-256)",
        "journal": "Transparency log: checkpoint of {size} records, root hash (SHA-256)",
        "verification": "Verification",
        "verify_text": (
            "To check that this proof is genuine, scan the QR code or open the address below: the "
            "provider's public verification page confirms the integrity of the proof and of the "
            "evidence chain."
        ),
        "issued": "Issued on",
        "not_provided": "Not provided",
        "reason": "Reason",
        "reason.refusal": "Reason for refusal",
        "reason.non_delivery": "Reason for non-delivery",
        "bytes": "bytes",
        "kb": "KB",
        "mb": "MB",
        "gb": "GB",
        "page": "Page {page} of {pages}",
        "footer": (
            "This document is electronically signed (PAdES) and timestamped; any modification "
            "invalidates the signature."
        ),
        "trust": "Seal and timestamps",
        "trust.trial": (
            "Trial setup: the seal and the timestamps come from the built-in local authority. "
            "This is not a qualified service; this proof is not for court."
        ),
        "trust.configured": "Seal “{seal}”, certificate issued by {issuer}; timestamps: {tsa}.",
        "trust.tsa_issued_by": "{tsa} (certificate issued by {issuer})",
    },
    "ar": {
        "title.deposit": "إثبات الإيداع",
        "title.reception": "إثبات الاستلام",
        "title.refusal": "إثبات الرفض",
        "title.negligence": "إثبات الإهمال",
        "title.non_delivery": "إثبات عدم التسليم",
        "title.handover": "إثبات تسليم الوثيقة",
        "statement.deposit": (
            "يشهد مقدم الخدمة بأن المرسل المبين أدناه قد أودع لديه الرسالة المضمونة الإلكترونية "
            "الموصوفة بعده، في التاريخ والساعة المذكورين."
        ),
        "statement.reception": (
            "يشهد مقدم الخدمة بأن المرسل إليه المبين أدناه قد قبل الرسالة المضمونة الإلكترونية الموصوفة بعده."
        ),
        "statement.refusal": (
            "يشهد مقدم الخدمة بأن المرسل إليه المبين أدناه قد رفض الرسالة المضمونة الإلكترونية الموصوفة بعده."
        ),
        "statement.negligence": (
            "يشهد مقدم الخدمة بأن المرسل إليه المبين أدناه، رغم إشعاره على النحو الواجب، لم يقبل "
            "ولم يرفض الرسالة المضمونة الإلكترونية الموصوفة بعده داخل الأجل المحدد."
        ),
        "statement.non_delivery": (
            "يشهد مقدم الخدمة بأن الرسالة المضمونة الإلكترونية الموصوفة بعده تعذر تسليمها إلى المرسل إليه المبين أدناه."
        ),
        "statement.handover": (
            "يشهد مقدم الخدمة بأن المرسل إليه المبين أدناه، بعد قبوله الرسالة المضمونة الإلكترونية الموصوفة "
            "بعده وتحققه من هويته برمز لمرة واحدة تلقاه عبر رسالة نصية، قد قام بتنزيل وثيقتها، المبينة "
            "بصمتها أدناه، في التاريخ والساعة المذكورين."
        ),
        "letter": "الرسالة المضمونة الإلكترونية",
        "provider": "مقدم الخدمة",
        "reference": "المرجع",
        "letter_id": "معرف الرسالة",
        "sender": "المرسل",
        "legal_name": "الاسم أو التسمية",
        "ice": "المعرف الموحد للمقاولة (ICE)",
        "address": "العنوان",
        "recipient": "المرسل إليه",
        "name": "الاسم",
        "phone": "رقم الهاتف",
        "email": "البريد الإلكتروني",
        "sms_delivered": "تسليم الرسالة النصية إلى الهاتف",
        "document": "الوثيقة",
        "file_name": "اسم الملف",
        "size": "الحجم",
        "sha256": "البصمة الرقمية SHA-256",
        "events": "الأحداث المثبتة",
        "event": "الحدث",
        "utc": "التاريخ والوقت (UTC)",
        "morocco": "توقيت المغرب",
        "evidence_id": "معرف الدليل",
        "record_hash": "بصمة السجل",
        "chain_hash": "بصمة سلسلة الأدلة (SHA-256)",
        "journal": "سجل الشفافية: نقطة مراقبة تضم {size} سجلا، بصمة الجذر (SHA-256)",
        "verification": "التحقق",
        "verify_text": (
            "للتحقق من صحة هذا الإثبات، امسح رمز QR أو افتح الرابط أدناه: تؤكد صفحة التحقق العمومية "
            "لمقدم الخدمة سلامة الإثبات وسلسلة الأدلة."
        ),
        "issued": "صدر في",
        "not_provided": "غير مذكور",
        "reason": "السبب",
        "reason.refusal": "سبب الرفض",
        "reason.non_delivery": "سبب عدم التسليم",
        "bytes": "بايت",
        "kb": "كيلوبايت",
        "mb": "ميغابايت",
        "gb": "غيغابايت",
        "page": "الصفحة {page} من {pages}",
        "footer": "هذه الوثيقة موقعة إلكترونيا (PAdES) ومختومة زمنيا؛ وأي تعديل عليها يبطل التوقيع.",
        "trust": "الختم الإلكتروني والختم الزمني",
        "trust.trial": (
            "تثبيت تجريبي: الختم الإلكتروني والأختام الزمنية صادرة عن السلطة المحلية المدمجة. "
            "هذه ليست خدمة مؤهلة، ولا يُعتدّ بهذا الإثبات أمام المحاكم."
        ),
        "trust.configured": "الختم الإلكتروني «{seal}»، شهادة صادرة عن {issuer}؛ الختم الزمني: {tsa}.",
        "trust.tsa_issued_by": "{tsa} (شهادة صادرة عن {issuer})",
    },
}


# --------------------------------------------------------------------------
# Fonts: registered once per process, on first use.

_SANS, _SANS_BOLD = "WassitProofSans", "WassitProofSans-Bold"
_ARABIC, _ARABIC_BOLD = "WassitProofArabic", "WassitProofArabic-Bold"
_MONO = "WassitProofMono"
_FONT_FILES = {
    _SANS: "NotoSans-Regular.ttf",
    _SANS_BOLD: "NotoSans-Bold.ttf",
    _ARABIC: "NotoSansArabic-Regular.ttf",
    _ARABIC_BOLD: "NotoSansArabic-Bold.ttf",
    _MONO: "NotoSansMono-Regular.ttf",
}
_cmaps: dict[str, frozenset[int]] = {}
_fonts_lock = threading.Lock()


def _ensure_fonts() -> dict[str, frozenset[int]]:
    """Register the vendored fonts with reportlab (once) and return their character maps."""
    if not _cmaps:
        with _fonts_lock:
            if not _cmaps:
                loaded: dict[str, frozenset[int]] = {}
                for name, file_name in _FONT_FILES.items():
                    font = TTFont(name, str(FONT_DIR / file_name))
                    pdfmetrics.registerFont(font)
                    loaded[name] = frozenset(font.face.charToGlyph)
                # Plain Flate streams: ASCII85 on top only makes the file bigger and, without
                # reportlab's optional C accelerator, costs a fifth of the rendering time.
                rl_config.useA85 = 0
                _cmaps.update(loaded)
    return _cmaps


# --------------------------------------------------------------------------
# Text: wrapping, Arabic shaping, bidi reordering, font runs.

_ARABIC_RANGES = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
# Explicit bidi controls are dropped: the layout decides the base direction of each line.
_STRIP = dict.fromkeys([0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x00AD])
_BREAK_AFTER = "/-_.?&=,;:"
# Drawn for a character no font has: PDF/A forbids drawing a font's missing (.notdef) glyph.
REPLACEMENT = "\ufffd"
_reshaper = arabic_reshaper.ArabicReshaper(configuration={"delete_harakat": True, "support_ligatures": True})

Base = Literal["L", "R"] | None  # None: from the text's first strong character (data values)


def _is_arabic(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _ARABIC_RANGES)


def _has_arabic(text: str) -> bool:
    return any(_is_arabic(ch) for ch in text)


@dataclass(frozen=True)
class _Style:
    size: float
    bold: bool = False
    mono: bool = False
    color: str = "#1a2433"
    leading: float = 1.32

    @property
    def lead(self) -> float:
        return self.size * self.leading

    @property
    def fonts(self) -> tuple[str, str, str]:
        """Primary, fallback Latin and Arabic font names."""
        sans = _SANS_BOLD if self.bold else _SANS
        primary = _MONO if self.mono else sans
        return primary, sans, _ARABIC_BOLD if self.bold else _ARABIC


def _clean(text: str) -> str:
    text = text.translate(_STRIP).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return "".join(ch for ch in text if ch == "\n" or ord(ch) >= 0x20)


@lru_cache(maxsize=4096)
def _shape(text: str) -> str:
    """Joined (presentation) forms for Arabic letters; other text unchanged."""
    return str(_reshaper.reshape(text)) if _has_arabic(text) else text


@lru_cache(maxsize=4096)
def _visual(line: str, base: Base) -> str:
    """One logical line, shaped and reordered for drawing left to right."""
    shaped = _shape(line)
    if base != "R" and not _has_arabic(shaped):
        return shaped
    return str(get_display(shaped, base_dir=base))


@lru_cache(maxsize=8192)
def _runs(text: str, style: _Style) -> tuple[tuple[str, str], ...]:
    """Split a visual line into (font name, text) runs, each drawable in its font."""
    cmaps = _ensure_fonts()
    primary, sans, arabic = style.fonts
    runs: list[list[str]] = []
    current = ""
    for ch in text:
        code = ord(ch)
        if _is_arabic(ch):
            font = arabic
        elif current == arabic and not ch.isalnum() and code in cmaps[arabic]:
            font = arabic  # spaces and punctuation between Arabic words stay in the Arabic run
        elif code in cmaps[primary]:
            font = primary
        elif code in cmaps[sans]:
            font = sans
        elif code in cmaps[arabic]:
            font = arabic
        else:
            font, ch = sans, REPLACEMENT  # the evidence records keep the character itself
        if runs and font == current:
            runs[-1][1] += ch
        else:
            runs.append([font, ch])
            current = font
    return tuple((font, chunk) for font, chunk in runs)


@lru_cache(maxsize=8192)
def _width(text: str, style: _Style) -> float:
    """Width of an already shaped (or non-Arabic) text."""
    return sum(float(pdfmetrics.stringWidth(chunk, font, style.size)) for font, chunk in _runs(text, style))


def _break_word(word: str, width: float, style: _Style) -> list[str]:
    """Cut a word wider than the line (hash, URL, long id) into pieces that fit."""
    pieces: list[str] = []
    rest = word
    while len(rest) > 1 and _width(_shape(rest), style) > width:
        low, high = 1, len(rest) - 1  # the longest prefix that fits, at least one character
        while low < high:
            middle = (low + high + 1) // 2
            if _width(_shape(rest[:middle]), style) <= width:
                low = middle
            else:
                high = middle - 1
        cut = low
        nice = max(rest.rfind(sep, 0, low) for sep in _BREAK_AFTER) + 1
        if nice > low * 0.6:
            cut = nice
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def _wrap(text: str, width: float, style: _Style) -> list[str]:
    """Greedy line breaking in logical order (before bidi reordering)."""
    space = _width(" ", style)
    lines: list[str] = []
    for paragraph in _clean(text).split("\n"):
        words = [word for word in paragraph.split(" ") if word]
        line: list[str] = []
        used = 0.0
        for word in words:
            word_width = _width(_shape(word), style)
            if line and used + space + word_width <= width:
                line.append(word)
                used += space + word_width
                continue
            if line:
                lines.append(" ".join(line))
            pieces = _break_word(word, width, style) if word_width > width else [word]
            lines.extend(pieces[:-1])
            line = [pieces[-1]]
            used = _width(_shape(pieces[-1]), style)
        lines.append(" ".join(line))
    return lines


Align = Literal["left", "right", "center"]


@lru_cache(maxsize=32)
def _color(spec: str) -> Color:
    return HexColor(spec)


class _Para:
    """A wrapped block of text of a given width."""

    def __init__(self, text: str, style: _Style, width: float, base: Base, max_lines: int = 0) -> None:
        self.style = style
        self.width = width
        logical = _wrap(text, width, style)
        if max_lines and len(logical) > max_lines:
            # Only absurdly long values get here; the evidence records keep them whole.
            logical = logical[:max_lines]
            last = logical[-1]
            while last and _width(_shape(last + "…"), style) > width:
                last = last[:-1]
            logical[-1] = last.rstrip() + "…"
        self.lines = [_visual(line, base) for line in logical]
        self.height = len(self.lines) * style.lead

    def natural_width(self) -> float:
        return max((_width(line, self.style) for line in self.lines), default=0.0)

    def draw(self, c: Canvas, left: float, top: float, align: Align) -> None:
        style = self.style
        c.setFillColor(_color(style.color))
        text = c.beginText()
        baseline = top - style.size * 0.98
        for line in self.lines:
            x = left
            if align == "right":
                x = left + self.width - _width(line, style)
            elif align == "center":
                x = left + (self.width - _width(line, style)) / 2
            text.setTextOrigin(x, baseline)
            for font, chunk in _runs(line, style):
                text.setFont(font, style.size)
                text.textOut(chunk)
            baseline -= style.lead
        c.drawText(text)


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


def _format_size(size: int, language: str) -> str:
    labels = LABELS[language]
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


@lru_cache(maxsize=64)
def _qr_modules(url: str) -> tuple[tuple[bool, ...], ...]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0)
    code.add_data(url)
    code.make(fit=True)  # smallest version, best of the eight masks
    return tuple(tuple(bool(module) for module in row) for row in code.get_matrix())


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code drawn for `url`: modules, True for dark, without the quiet zone."""
    return [list(row) for row in _qr_modules(url)]


QR_QUIET_ZONE = 4  # modules of white around the code, part of the image
QR_PIXELS_PER_MODULE = 8


@lru_cache(maxsize=64)
def _qr_image(url: str) -> Image.Image:
    matrix = _qr_modules(url)
    modules = len(matrix) + 2 * QR_QUIET_ZONE
    image = Image.new("L", (modules, modules), 255)
    for row, line in enumerate(matrix):
        for column, dark in enumerate(line):
            if dark:
                image.putpixel((column + QR_QUIET_ZONE, row + QR_QUIET_ZONE), 0)
    side = modules * QR_PIXELS_PER_MODULE
    return image.resize((side, side), Image.Resampling.NEAREST)


# --------------------------------------------------------------------------
# Layout.

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 40.0
MARGIN_TOP = 34.0
MARGIN_BOTTOM = 26.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
GAP = 9.0  # between blocks
PAD = 5.0  # inside cells
TITLE_BAR = 15.0
QR_SIZE = 100.0

NAVY = "#173a63"
INK = "#1a2433"
MUTED = "#5b6677"
RULE = "#c5cfdb"
HAIRLINE = "#dde3ea"
BAR_FILL = "#e8eef6"
LABEL_FILL = "#f6f8fb"
ZEBRA = "#f8fafc"
NOTE_FILL = "#fbf6ea"
NOTE_BAR = "#c08a1e"

S_PROVIDER = _Style(13.5, bold=True, color=NAVY)
S_SMALL = _Style(7.5, color=MUTED)
S_SMALL_BOLD = _Style(7.8, bold=True, color=INK)
S_TITLE = _Style(19, bold=True, color=NAVY, leading=1.25)
S_STATEMENT = _Style(9.6, color=INK, leading=1.4)
S_BAR = _Style(8.2, bold=True, color=NAVY)
S_LABEL = _Style(7.8, color=MUTED)
S_VALUE = _Style(8.8, color=INK)
S_VALUE_BOLD = _Style(8.8, bold=True, color=INK)
S_DETAIL = _Style(7.4, color=MUTED)
S_HASH = _Style(8.2, mono=True, color=INK)
S_TH = _Style(7.2, bold=True, color=MUTED)
S_CELL = _Style(8.0, color=INK)
S_CELL_MONO = _Style(7.4, mono=True, color=INK)
S_CELL_MUTED = _Style(6.6, color=MUTED)
S_CELL_HASH = _Style(6.6, mono=True, color=MUTED)
S_URL = _Style(7.0, mono=True, color=NAVY)
S_FOOTER = _Style(7.2, color=MUTED)


class _Block:
    height: float = 0.0
    keep_with_next: bool = False
    header: _Block | None = None  # repeated first when this block starts a new page

    def draw(self, c: Canvas, top: float) -> None:
        raise NotImplementedError


class _Layout:
    """Direction-aware helpers shared by the blocks of one proof."""

    def __init__(self, language: str) -> None:
        self.rtl = language == "ar"
        self.base: Base = "R" if self.rtl else "L"
        self.start: Align = "right" if self.rtl else "left"
        self.end: Align = "left" if self.rtl else "right"

    def x(self, area_left: float, area_width: float, offset: float, width: float) -> float:
        """Physical left of a box `offset` points from the start edge of an area."""
        return area_left + area_width - offset - width if self.rtl else area_left + offset

    def text(self, text: str, style: _Style, width: float) -> _Para:
        """Static text of the proof's language."""
        return _Para(text, style, width, self.base)

    def data(self, text: str, style: _Style, width: float, max_lines: int = 6) -> _Para:
        """A value from the facts: its own direction, laid out on the page's side."""
        return _Para(text, style, width, None, max_lines)

    def bar(self, c: Canvas, title: str, left: float, width: float, top: float) -> None:
        c.setFillColor(_color(BAR_FILL))
        c.rect(left, top - TITLE_BAR, width, TITLE_BAR, stroke=0, fill=1)
        para = self.text(title, S_BAR, width - 2 * PAD)
        para.lines = para.lines[:1]
        para.draw(c, left + PAD, top - (TITLE_BAR - S_BAR.size) / 2 + 0.6, self.start)


def _frame(c: Canvas, left: float, bottom: float, width: float, height: float) -> None:
    c.setStrokeColor(_color(RULE))
    c.setLineWidth(0.6)
    c.rect(left, bottom, width, height, stroke=1, fill=0)


def _hline(c: Canvas, left: float, right: float, y: float, color: str = HAIRLINE, width: float = 0.45) -> None:
    c.setStrokeColor(_color(color))
    c.setLineWidth(width)
    c.line(left, y, right, y)


class _Intro(_Block):
    """Title, statement and, for negative events, the reason."""

    def __init__(self, lay: _Layout, title: str, statement: str, reason: tuple[str, str] | None) -> None:
        self.lay = lay
        self.title = lay.text(title, S_TITLE, CONTENT_WIDTH)
        self.statement = lay.text(statement, S_STATEMENT, CONTENT_WIDTH)
        self.height = self.title.height + 4 + self.statement.height
        self.reason: tuple[_Para, _Para] | None = None
        self.reason_height = 0.0
        if reason is not None:
            inner = CONTENT_WIDTH - 2 * PAD - 8
            self.reason = (lay.text(reason[0], S_SMALL_BOLD, inner), lay.data(reason[1], S_VALUE, inner, 16))
            self.reason_height = self.reason[0].height + 2 + self.reason[1].height + 2 * PAD
            self.height += 8 + self.reason_height

    def draw(self, c: Canvas, top: float) -> None:
        lay = self.lay
        self.title.draw(c, MARGIN_X, top, lay.start)
        y = top - self.title.height - 4
        self.statement.draw(c, MARGIN_X, y, lay.start)
        y -= self.statement.height
        if self.reason is None:
            return
        y -= 8
        height = self.reason_height
        c.setFillColor(_color(NOTE_FILL))
        c.rect(MARGIN_X, y - height, CONTENT_WIDTH, height, stroke=0, fill=1)
        c.setFillColor(_color(NOTE_BAR))
        c.rect(lay.x(MARGIN_X, CONTENT_WIDTH, 0, 3), y - height, 3, height, stroke=0, fill=1)
        inner_left = lay.x(MARGIN_X, CONTENT_WIDTH, PAD + 3, self.reason[0].width)
        self.reason[0].draw(c, inner_left, y - PAD, lay.start)
        self.reason[1].draw(c, inner_left, y - PAD - self.reason[0].height - 2, lay.start)


Row = tuple[str, Sequence[tuple[str, _Style, bool]]]  # label, [(text, style, is_data)]


class _Section(_Block):
    """A titled box of label / value rows."""

    def __init__(
        self, lay: _Layout, title: str, rows: Sequence[Row], left: float, width: float, label_width: float
    ) -> None:
        self.lay, self.title, self.left, self.width, self.label_width = lay, title, left, width, label_width
        value_width = width - label_width - 2 * PAD
        self.rows: list[tuple[_Para, list[_Para], float]] = []
        total = TITLE_BAR
        for label, values in rows:
            label_para = lay.text(label, S_LABEL, label_width - 2 * PAD)
            value_paras = [
                (lay.data if is_data else lay.text)(text, style, value_width) for text, style, is_data in values
            ]
            row_height = max(label_para.height, sum(p.height for p in value_paras) + 1.5 * (len(value_paras) - 1))
            row_height += 2 * 3.6
            self.rows.append((label_para, value_paras, row_height))
            total += row_height
        self.height = total

    def stretch(self, height: float) -> None:
        if height > self.height:
            self.rows[-1] = (*self.rows[-1][:2], self.rows[-1][2] + height - self.height)
            self.height = height

    def draw(self, c: Canvas, top: float) -> None:
        lay, left, width = self.lay, self.left, self.width
        bottom = top - self.height
        label_left = lay.x(left, width, 0, self.label_width)
        c.setFillColor(_color(LABEL_FILL))
        c.rect(label_left, bottom, self.label_width, self.height - TITLE_BAR, stroke=0, fill=1)
        lay.bar(c, self.title, left, width, top)
        y = top - TITLE_BAR
        value_left = lay.x(left, width, self.label_width + PAD, width - self.label_width - 2 * PAD)
        for index, (label, values, row_height) in enumerate(self.rows):
            if index:
                _hline(c, left, left + width, y)
            label.draw(c, label_left + PAD, y - 3.6 - 0.6, lay.start)
            value_top = y - 3.6
            for para in values:
                para.draw(c, value_left, value_top, lay.start)
                value_top -= para.height + 1.5
            y -= row_height
        _frame(c, left, bottom, width, self.height)


class _Side(_Block):
    """Two sections side by side, of equal height."""

    def __init__(self, first: _Section, second: _Section) -> None:
        self.first, self.second = first, second
        self.height = max(first.height, second.height)
        first.stretch(self.height)
        second.stretch(self.height)

    def draw(self, c: Canvas, top: float) -> None:
        self.first.draw(c, top)
        self.second.draw(c, top)


class _EventsHeader(_Block):
    def __init__(self, lay: _Layout, title: str, headings: Sequence[str], widths: Sequence[float]) -> None:
        self.lay, self.title, self.widths = lay, title, widths
        self.cells = [lay.text(text, S_TH, width - 2 * PAD) for text, width in zip(headings, widths, strict=True)]
        self.row_height = max(cell.height for cell in self.cells) + 2 * 3.4
        self.height = TITLE_BAR + self.row_height
        self.keep_with_next = True

    def draw(self, c: Canvas, top: float) -> None:
        lay = self.lay
        lay.bar(c, self.title, MARGIN_X, CONTENT_WIDTH, top)
        y = top - TITLE_BAR
        c.setFillColor(_color(LABEL_FILL))
        c.rect(MARGIN_X, y - self.row_height, CONTENT_WIDTH, self.row_height, stroke=0, fill=1)
        offset = 0.0
        for cell, width in zip(self.cells, self.widths, strict=True):
            cell.draw(c, lay.x(MARGIN_X, CONTENT_WIDTH, offset, width) + PAD, y - 3.4, lay.start)
            offset += width
        _hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, y - self.row_height, RULE, 0.6)
        c.setStrokeColor(_color(RULE))
        c.setLineWidth(0.6)
        c.line(MARGIN_X, top, MARGIN_X, y - self.row_height)
        c.line(MARGIN_X + CONTENT_WIDTH, top, MARGIN_X + CONTENT_WIDTH, y - self.row_height)
        c.line(MARGIN_X, top, MARGIN_X + CONTENT_WIDTH, top)


class _EventRow(_Block):
    def __init__(
        self,
        lay: _Layout,
        cells: Sequence[_Para],
        widths: Sequence[float],
        hash_label: str,
        record_hash: str,
        shaded: bool,
        last: bool,
    ) -> None:
        self.lay, self.cells, self.widths, self.shaded, self.last = lay, cells, widths, shaded, last
        self.hash_label = lay.text(hash_label, S_CELL_MUTED, CONTENT_WIDTH)
        self.label_width = self.hash_label.natural_width() + 4
        self.hash_label.width = self.label_width
        self.hash = lay.data(record_hash, S_CELL_HASH, CONTENT_WIDTH - 2 * PAD - self.label_width)
        self.cells_height = max(cell.height for cell in cells)
        self.height = 3.6 + self.cells_height + 1.5 + self.hash.height + 3.6

    def draw(self, c: Canvas, top: float) -> None:
        lay = self.lay
        bottom = top - self.height
        if self.shaded:
            c.setFillColor(_color(ZEBRA))
            c.rect(MARGIN_X, bottom, CONTENT_WIDTH, self.height, stroke=0, fill=1)
        offset = 0.0
        for cell, width in zip(self.cells, self.widths, strict=True):
            cell.draw(c, lay.x(MARGIN_X, CONTENT_WIDTH, offset, width) + PAD, top - 3.6, lay.start)
            offset += width
        y = top - 3.6 - self.cells_height - 1.5
        label_left = lay.x(MARGIN_X, CONTENT_WIDTH, PAD, self.label_width)
        self.hash_label.draw(c, label_left, y, lay.start)
        hash_left = lay.x(MARGIN_X, CONTENT_WIDTH, PAD + self.label_width, self.hash.width)
        self.hash.draw(c, hash_left, y, lay.start)
        c.setStrokeColor(_color(RULE))
        c.setLineWidth(0.6)
        c.line(MARGIN_X, top, MARGIN_X, bottom)
        c.line(MARGIN_X + CONTENT_WIDTH, top, MARGIN_X + CONTENT_WIDTH, bottom)
        if self.last:
            c.line(MARGIN_X, bottom, MARGIN_X + CONTENT_WIDTH, bottom)
        else:
            _hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, bottom)


class _Verification(_Block):
    """The QR code to the public verification page, its URL and the chain hash."""

    def __init__(
        self,
        lay: _Layout,
        labels: dict[str, str],
        chain_hash: str,
        url: str,
        journal: tuple[int, str] | None = None,
    ) -> None:
        self.lay, self.title, self.url = lay, labels["verification"], url
        # The image carries its own white quiet zone; the code and the URL line up inside it.
        self.quiet = QR_SIZE * QR_QUIET_ZONE / (len(_qr_modules(url)) + 2 * QR_QUIET_ZONE)
        self.text_width = CONTENT_WIDTH - 1 - QR_SIZE - 2 * PAD
        self.paras = [
            (lay.text(labels["chain_hash"], S_LABEL, self.text_width), 1.5),
            (lay.data(chain_hash, S_HASH, self.text_width), 7.0),
        ]
        if journal is not None:
            size, root = journal
            self.paras += [
                (lay.text(labels["journal"].format(size=size), S_LABEL, self.text_width), 1.5),
                (lay.data(root, S_HASH, self.text_width), 7.0),
            ]
        self.paras.append((lay.text(labels["verify_text"], S_VALUE, self.text_width), 0.0))
        self.url_para = lay.data(url, S_URL, CONTENT_WIDTH - 1 - self.quiet - PAD)
        self.text_height = sum(p.height + gap for p, gap in self.paras)
        body = max(QR_SIZE - 3, self.quiet + self.text_height) + self.url_para.height
        self.height = TITLE_BAR + 1 + body + PAD

    def draw(self, c: Canvas, top: float) -> None:
        lay = self.lay
        lay.bar(c, self.title, MARGIN_X, CONTENT_WIDTH, top)
        y = top - TITLE_BAR - 1
        qr_left = lay.x(MARGIN_X, CONTENT_WIDTH, 1, QR_SIZE)
        c.drawImage(ImageReader(_qr_image(self.url)), qr_left, y - QR_SIZE, QR_SIZE, QR_SIZE)
        text_left = lay.x(MARGIN_X, CONTENT_WIDTH, 1 + QR_SIZE + PAD, self.text_width)
        text_top = y - self.quiet + 1
        for para, gap in self.paras:
            para.draw(c, text_left, text_top, lay.start)
            text_top -= para.height + gap
        url_top = y - max(QR_SIZE - 3, self.quiet + self.text_height)
        url_left = lay.x(MARGIN_X, CONTENT_WIDTH, 1 + self.quiet, self.url_para.width)
        self.url_para.draw(c, url_left, url_top, lay.start)
        _frame(c, MARGIN_X, top - self.height, CONTENT_WIDTH, self.height)


class _Renderer:
    def __init__(self, facts: ProofFacts) -> None:
        if facts.kind not in KINDS:
            raise ValueError(f"unknown proof kind: {facts.kind!r}")
        self.facts = facts
        self.language = facts.language if facts.language in LABELS else "fr"
        self.labels = LABELS[self.language]
        self.lay = _Layout(self.language)

    # -- page furniture -------------------------------------------------

    def _header_parts(self) -> tuple[_Para, _Para, list[_Para]]:
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
        _hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, rule, NAVY, 1.4)

    def _footer(self, page: int, pages: int) -> tuple[_Para, _Para]:
        lay, t = self.lay, self.labels
        number = lay.text(t["page"].format(page=page, pages=pages), S_FOOTER, 70)
        sentence = lay.text(t["footer"], S_FOOTER, CONTENT_WIDTH - 80)
        return sentence, number

    def _draw_footer(self, c: Canvas, page: int, pages: int) -> None:
        lay = self.lay
        sentence, number = self._footer(page, pages)
        top = MARGIN_BOTTOM + sentence.height
        _hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, top + 5, RULE, 0.6)
        sentence.draw(c, lay.x(MARGIN_X, CONTENT_WIDTH, 0, sentence.width), top, lay.start)
        number_left = lay.x(MARGIN_X, CONTENT_WIDTH, CONTENT_WIDTH - number.width, number.width)
        number.draw(c, number_left, top, lay.end)

    # -- content ----------------------------------------------------------

    def _blocks(self) -> list[_Block]:
        lay, f, t = self.lay, self.facts, self.labels
        missing = t["not_provided"]
        reason = None
        if f.reason:
            reason = (t.get(f"reason.{f.kind}", t["reason"]), f.reason)
        blocks: list[_Block] = [_Intro(lay, t[f"title.{f.kind}"], t[f"statement.{f.kind}"], reason)]

        letter_rows: list[Row] = [
            (t["provider"], [(f.provider_name, S_VALUE_BOLD, True), (f.provider_details, S_DETAIL, True)]),
            (t["reference"], [(f.reference, S_VALUE_BOLD, True)]),
            (t["letter_id"], [(f.letter_id, S_HASH, True)]),
        ]
        if f.trust_notice:
            letter_rows.append((t["trust"], [(f.trust_notice, S_VALUE, False)]))
        blocks.append(_Section(lay, t["letter"], letter_rows, MARGIN_X, CONTENT_WIDTH, 130))

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
        sender = _Section(lay, t["sender"], sender_rows, sender_left, half, label_width)
        recipient = _Section(lay, t["recipient"], recipient_rows, recipient_left, half, label_width)
        blocks.append(_Side(sender, recipient))

        document_rows: list[Row] = [
            (t["file_name"], [(f.document_name, S_VALUE_BOLD, True)]),
            (t["size"], [(_format_size(f.document_size, self.language), S_VALUE, False)]),
            (t["sha256"], [(f.document_sha256, S_HASH, True)]),
        ]
        blocks.append(_Section(lay, t["document"], document_rows, MARGIN_X, CONTENT_WIDTH, 130))

        blocks.extend(self._event_blocks())
        journal = (f.journal_size, f.journal_root) if f.journal_size and f.journal_root else None
        blocks.append(_Verification(lay, t, f.chain_head_hash, f.verify_url, journal))
        return blocks

    def _event_blocks(self) -> list[_Block]:
        lay, f, t = self.lay, self.facts, self.labels
        utc_texts = [format_utc(event.at) for event in f.events]
        morocco_texts = [format_morocco(event.at) for event in f.events]

        def column(texts: Sequence[str], style: _Style, heading: str, cap: float) -> float:
            widest = max([_width(_shape(text), style) for text in texts] or [0.0])
            heading_width = min(_width(_shape(heading), S_TH), cap * 0.8)
            return min(max(widest, heading_width) + 2 * PAD + 1, cap)

        widths = [
            0.0,
            column(utc_texts, S_CELL, t["utc"], 100),
            column(morocco_texts, S_CELL, t["morocco"], 135),
            column([event.evidence_id for event in f.events], S_CELL_MONO, t["evidence_id"], 170),
        ]
        widths[0] = CONTENT_WIDTH - sum(widths)
        header = _EventsHeader(lay, t["events"], [t["event"], t["utc"], t["morocco"], t["evidence_id"]], widths)
        blocks: list[_Block] = [header]
        for index, event in enumerate(f.events):
            cells = [
                lay.text(event.label, S_CELL, widths[0] - 2 * PAD),
                lay.data(utc_texts[index], S_CELL, widths[1] - 2 * PAD),
                lay.data(morocco_texts[index], S_CELL, widths[2] - 2 * PAD),
                lay.data(event.evidence_id, S_CELL_MONO, widths[3] - 2 * PAD),
            ]
            last = index == len(f.events) - 1
            row = _EventRow(lay, cells, widths, t["record_hash"], event.record_hash, index % 2 == 1, last)
            row.header = header
            blocks.append(row)
        return blocks

    # -- pages ------------------------------------------------------------

    def _paginate(self, blocks: list[_Block]) -> list[list[tuple[_Block, float]]]:
        top = PAGE_HEIGHT - MARGIN_TOP - self._header_height() - 5 - 14
        sentence, _ = self._footer(1, 1)
        bottom = MARGIN_BOTTOM + sentence.height + 5 + 10
        pages: list[list[tuple[_Block, float]]] = [[]]
        y = top
        for index, block in enumerate(blocks):
            needed = block.height
            if block.keep_with_next and index + 1 < len(blocks):
                needed += blocks[index + 1].height
            if y - needed < bottom and pages[-1]:
                pages.append([])
                y = top
                if block.header is not None:
                    pages[-1].append((block.header, y))
                    y -= block.header.height
            pages[-1].append((block, y))
            y -= block.height
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if following is None or following.header is None or following.header not in (block, block.header):
                y -= GAP
        return pages

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
            initialFontName=_SANS,
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
    return " ".join(_clean(text).split())


def _pdf_date(moment: datetime) -> Callable[..., str]:
    stamp = moment.strftime("D:%Y%m%d%H%M%S+00'00'")

    def formatter(*_: int) -> str:
        return stamp

    return formatter


def render_proof_pdf(facts: ProofFacts) -> bytes:
    """The proof as an unsigned A4 PDF (one page, two for long event lists)."""
    _ensure_fonts()
    return _Renderer(facts).render()
