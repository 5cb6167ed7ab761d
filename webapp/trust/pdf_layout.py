"""Text layout for the proof PDFs: fonts, wrapping, Arabic shaping, bidi, font runs, blocks, pages.

Text is laid out by hand on a reportlab canvas so that Arabic works: every line
is wrapped in logical order, then shaped with `arabic_reshaper` (joined letter
forms) and reordered with python-bidi's `get_display` (right-to-left runs,
mirrored brackets), and each visual run is drawn in a font that has its glyphs:
Noto Sans Arabic for Arabic script, Noto Sans (or Noto Sans Mono for hashes
and identifiers) for the rest.  A `Layout` for Arabic lays blocks out right to
left.  No character is drawn with a font's missing glyph (PDF/A forbids it):
one no font has is drawn as U+FFFD.

The fonts are vendored in `fonts/` (SIL OFL 1.1, see `fonts/README.md`) and
registered once, lazily.  This module knows nothing of proofs, their texts or
their facts: `proof_pdf` composes its blocks into a proof.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import arabic_reshaper
import qrcode
import qrcode.constants
from bidi.algorithm import get_display
from PIL import Image
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT_DIR = Path(__file__).resolve().parent / "fonts"


# --------------------------------------------------------------------------
# Fonts: registered once per process, on first use.

SANS, SANS_BOLD = "WassitProofSans", "WassitProofSans-Bold"
ARABIC, ARABIC_BOLD = "WassitProofArabic", "WassitProofArabic-Bold"
MONO = "WassitProofMono"
_FONT_FILES = {
    SANS: "NotoSans-Regular.ttf",
    SANS_BOLD: "NotoSans-Bold.ttf",
    ARABIC: "NotoSansArabic-Regular.ttf",
    ARABIC_BOLD: "NotoSansArabic-Bold.ttf",
    MONO: "NotoSansMono-Regular.ttf",
}
_cmaps: dict[str, frozenset[int]] = {}
_fonts_lock = threading.Lock()


def ensure_fonts() -> dict[str, frozenset[int]]:
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
class Style:
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
        sans = SANS_BOLD if self.bold else SANS
        primary = MONO if self.mono else sans
        return primary, sans, ARABIC_BOLD if self.bold else ARABIC


def clean_text(text: str) -> str:
    text = text.translate(_STRIP).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return "".join(ch for ch in text if ch == "\n" or ord(ch) >= 0x20)


@lru_cache(maxsize=4096)
def shape(text: str) -> str:
    """Joined (presentation) forms for Arabic letters; other text unchanged."""
    return str(_reshaper.reshape(text)) if _has_arabic(text) else text


@lru_cache(maxsize=4096)
def _visual(line: str, base: Base) -> str:
    """One logical line, shaped and reordered for drawing left to right."""
    shaped = shape(line)
    if base != "R" and not _has_arabic(shaped):
        return shaped
    return str(get_display(shaped, base_dir=base))


@lru_cache(maxsize=8192)
def _runs(text: str, style: Style) -> tuple[tuple[str, str], ...]:
    """Split a visual line into (font name, text) runs, each drawable in its font."""
    cmaps = ensure_fonts()
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
def text_width(text: str, style: Style) -> float:
    """Width of an already shaped (or non-Arabic) text."""
    return sum(float(pdfmetrics.stringWidth(chunk, font, style.size)) for font, chunk in _runs(text, style))


def _break_word(word: str, width: float, style: Style) -> list[str]:
    """Cut a word wider than the line (hash, URL, long id) into pieces that fit."""
    pieces: list[str] = []
    rest = word
    while len(rest) > 1 and text_width(shape(rest), style) > width:
        low, high = 1, len(rest) - 1  # the longest prefix that fits, at least one character
        while low < high:
            middle = (low + high + 1) // 2
            if text_width(shape(rest[:middle]), style) <= width:
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


def _wrap(text: str, width: float, style: Style) -> list[str]:
    """Greedy line breaking in logical order (before bidi reordering)."""
    space = text_width(" ", style)
    lines: list[str] = []
    for paragraph in clean_text(text).split("\n"):
        words = [word for word in paragraph.split(" ") if word]
        line: list[str] = []
        used = 0.0
        for word in words:
            word_width = text_width(shape(word), style)
            if line and used + space + word_width <= width:
                line.append(word)
                used += space + word_width
                continue
            if line:
                lines.append(" ".join(line))
            pieces = _break_word(word, width, style) if word_width > width else [word]
            lines.extend(pieces[:-1])
            line = [pieces[-1]]
            used = text_width(shape(pieces[-1]), style)
        lines.append(" ".join(line))
    return lines


Align = Literal["left", "right", "center"]


@lru_cache(maxsize=32)
def hex_color(spec: str) -> Color:
    return HexColor(spec)


class Para:
    """A wrapped block of text of a given width."""

    def __init__(self, text: str, style: Style, width: float, base: Base, max_lines: int = 0) -> None:
        self.style = style
        self.width = width
        logical = _wrap(text, width, style)
        if max_lines and len(logical) > max_lines:
            # Only absurdly long values get here; the evidence records keep them whole.
            logical = logical[:max_lines]
            last = logical[-1]
            while last and text_width(shape(last + "…"), style) > width:
                last = last[:-1]
            logical[-1] = last.rstrip() + "…"
        self.lines = [_visual(line, base) for line in logical]
        self.height = len(self.lines) * style.lead

    def natural_width(self) -> float:
        return max((text_width(line, self.style) for line in self.lines), default=0.0)

    def draw(self, c: Canvas, left: float, top: float, align: Align) -> None:
        style = self.style
        c.setFillColor(hex_color(style.color))
        text = c.beginText()
        baseline = top - style.size * 0.98
        for line in self.lines:
            x = left
            if align == "right":
                x = left + self.width - text_width(line, style)
            elif align == "center":
                x = left + (self.width - text_width(line, style)) / 2
            text.setTextOrigin(x, baseline)
            for font, chunk in _runs(line, style):
                text.setFont(font, style.size)
                text.textOut(chunk)
            baseline -= style.lead
        c.drawText(text)


# --------------------------------------------------------------------------
# QR code: its modules, drawn as an image with its quiet zone.


# One fixed mask pattern: every mask makes a valid code that any reader decodes; trying all eight to pick
# the one with the lowest penalty score costs a tenth of a proof's rendering for no reader's benefit.
QR_MASK = 2


@lru_cache(maxsize=64)
def qr_modules(url: str) -> tuple[tuple[bool, ...], ...]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0, mask_pattern=QR_MASK)
    code.add_data(url)
    code.make(fit=True)  # the smallest version that holds the URL
    return tuple(tuple(bool(module) for module in row) for row in code.get_matrix())


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code drawn for `url`: modules, True for dark, without the quiet zone."""
    return [list(row) for row in qr_modules(url)]


QR_QUIET_ZONE = 4  # modules of white around the code, part of the image
QR_PIXELS_PER_MODULE = 8


@lru_cache(maxsize=64)
def qr_image(url: str) -> Image.Image:
    matrix = qr_modules(url)
    modules = len(matrix) + 2 * QR_QUIET_ZONE
    image = Image.new("L", (modules, modules), 255)
    for row, line in enumerate(matrix):
        for column, dark in enumerate(line):
            if dark:
                image.putpixel((column + QR_QUIET_ZONE, row + QR_QUIET_ZONE), 0)
    side = modules * QR_PIXELS_PER_MODULE
    return image.resize((side, side), Image.Resampling.NEAREST)


# --------------------------------------------------------------------------
# Page geometry, colours, styles, and the blocks a page is made of.

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

S_PROVIDER = Style(13.5, bold=True, color=NAVY)
S_SMALL = Style(7.5, color=MUTED)
S_SMALL_BOLD = Style(7.8, bold=True, color=INK)
S_TITLE = Style(19, bold=True, color=NAVY, leading=1.25)
S_STATEMENT = Style(9.6, color=INK, leading=1.4)
S_BAR = Style(8.2, bold=True, color=NAVY)
S_LABEL = Style(7.8, color=MUTED)
S_VALUE = Style(8.8, color=INK)
S_VALUE_BOLD = Style(8.8, bold=True, color=INK)
S_DETAIL = Style(7.4, color=MUTED)
S_HASH = Style(8.2, mono=True, color=INK)
S_TH = Style(7.2, bold=True, color=MUTED)
S_CELL = Style(8.0, color=INK)
S_CELL_MONO = Style(7.4, mono=True, color=INK)
S_CELL_MUTED = Style(6.6, color=MUTED)
S_CELL_HASH = Style(6.6, mono=True, color=MUTED)
S_URL = Style(7.0, mono=True, color=NAVY)
S_FOOTER = Style(7.2, color=MUTED)


class Block:
    height: float = 0.0
    keep_with_next: bool = False
    header: Block | None = None  # repeated first when this block starts a new page

    def draw(self, c: Canvas, top: float) -> None:
        raise NotImplementedError


class Layout:
    """Direction-aware helpers shared by the blocks of one proof."""

    def __init__(self, language: str) -> None:
        self.rtl = language == "ar"
        self.base: Base = "R" if self.rtl else "L"
        self.start: Align = "right" if self.rtl else "left"
        self.end: Align = "left" if self.rtl else "right"

    def x(self, area_left: float, area_width: float, offset: float, width: float) -> float:
        """Physical left of a box `offset` points from the start edge of an area."""
        return area_left + area_width - offset - width if self.rtl else area_left + offset

    def text(self, text: str, style: Style, width: float) -> Para:
        """Static text of the proof's language."""
        return Para(text, style, width, self.base)

    def data(self, text: str, style: Style, width: float, max_lines: int = 6) -> Para:
        """A value from the facts: its own direction, laid out on the page's side."""
        return Para(text, style, width, None, max_lines)

    def bar(self, c: Canvas, title: str, left: float, width: float, top: float) -> None:
        c.setFillColor(hex_color(BAR_FILL))
        c.rect(left, top - TITLE_BAR, width, TITLE_BAR, stroke=0, fill=1)
        para = self.text(title, S_BAR, width - 2 * PAD)
        para.lines = para.lines[:1]
        para.draw(c, left + PAD, top - (TITLE_BAR - S_BAR.size) / 2 + 0.6, self.start)


def frame(c: Canvas, left: float, bottom: float, width: float, height: float) -> None:
    c.setStrokeColor(hex_color(RULE))
    c.setLineWidth(0.6)
    c.rect(left, bottom, width, height, stroke=1, fill=0)


def hline(c: Canvas, left: float, right: float, y: float, color: str = HAIRLINE, width: float = 0.45) -> None:
    c.setStrokeColor(hex_color(color))
    c.setLineWidth(width)
    c.line(left, y, right, y)


class Intro(Block):
    """Title, statement and, for negative events, the reason."""

    def __init__(self, lay: Layout, title: str, statement: str, reason: tuple[str, str] | None) -> None:
        self.lay = lay
        self.title = lay.text(title, S_TITLE, CONTENT_WIDTH)
        self.statement = lay.text(statement, S_STATEMENT, CONTENT_WIDTH)
        self.height = self.title.height + 4 + self.statement.height
        self.reason: tuple[Para, Para] | None = None
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
        c.setFillColor(hex_color(NOTE_FILL))
        c.rect(MARGIN_X, y - height, CONTENT_WIDTH, height, stroke=0, fill=1)
        c.setFillColor(hex_color(NOTE_BAR))
        c.rect(lay.x(MARGIN_X, CONTENT_WIDTH, 0, 3), y - height, 3, height, stroke=0, fill=1)
        inner_left = lay.x(MARGIN_X, CONTENT_WIDTH, PAD + 3, self.reason[0].width)
        self.reason[0].draw(c, inner_left, y - PAD, lay.start)
        self.reason[1].draw(c, inner_left, y - PAD - self.reason[0].height - 2, lay.start)


Row = tuple[str, Sequence[tuple[str, Style, bool]]]  # label, [(text, style, is_data)]


class Section(Block):
    """A titled box of label / value rows."""

    def __init__(
        self, lay: Layout, title: str, rows: Sequence[Row], left: float, width: float, label_width: float
    ) -> None:
        self.lay, self.title, self.left, self.width, self.label_width = lay, title, left, width, label_width
        value_width = width - label_width - 2 * PAD
        self.rows: list[tuple[Para, list[Para], float]] = []
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
        c.setFillColor(hex_color(LABEL_FILL))
        c.rect(label_left, bottom, self.label_width, self.height - TITLE_BAR, stroke=0, fill=1)
        lay.bar(c, self.title, left, width, top)
        y = top - TITLE_BAR
        value_left = lay.x(left, width, self.label_width + PAD, width - self.label_width - 2 * PAD)
        for index, (label, values, row_height) in enumerate(self.rows):
            if index:
                hline(c, left, left + width, y)
            label.draw(c, label_left + PAD, y - 3.6 - 0.6, lay.start)
            value_top = y - 3.6
            for para in values:
                para.draw(c, value_left, value_top, lay.start)
                value_top -= para.height + 1.5
            y -= row_height
        frame(c, left, bottom, width, self.height)


class Side(Block):
    """Two sections side by side, of equal height."""

    def __init__(self, first: Section, second: Section) -> None:
        self.first, self.second = first, second
        self.height = max(first.height, second.height)
        first.stretch(self.height)
        second.stretch(self.height)

    def draw(self, c: Canvas, top: float) -> None:
        self.first.draw(c, top)
        self.second.draw(c, top)


class EventsHeader(Block):
    def __init__(self, lay: Layout, title: str, headings: Sequence[str], widths: Sequence[float]) -> None:
        self.lay, self.title, self.widths = lay, title, widths
        self.cells = [lay.text(text, S_TH, width - 2 * PAD) for text, width in zip(headings, widths, strict=True)]
        self.row_height = max(cell.height for cell in self.cells) + 2 * 3.4
        self.height = TITLE_BAR + self.row_height
        self.keep_with_next = True

    def draw(self, c: Canvas, top: float) -> None:
        lay = self.lay
        lay.bar(c, self.title, MARGIN_X, CONTENT_WIDTH, top)
        y = top - TITLE_BAR
        c.setFillColor(hex_color(LABEL_FILL))
        c.rect(MARGIN_X, y - self.row_height, CONTENT_WIDTH, self.row_height, stroke=0, fill=1)
        offset = 0.0
        for cell, width in zip(self.cells, self.widths, strict=True):
            cell.draw(c, lay.x(MARGIN_X, CONTENT_WIDTH, offset, width) + PAD, y - 3.4, lay.start)
            offset += width
        hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, y - self.row_height, RULE, 0.6)
        c.setStrokeColor(hex_color(RULE))
        c.setLineWidth(0.6)
        c.line(MARGIN_X, top, MARGIN_X, y - self.row_height)
        c.line(MARGIN_X + CONTENT_WIDTH, top, MARGIN_X + CONTENT_WIDTH, y - self.row_height)
        c.line(MARGIN_X, top, MARGIN_X + CONTENT_WIDTH, top)


class EventRow(Block):
    def __init__(
        self,
        lay: Layout,
        cells: Sequence[Para],
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
            c.setFillColor(hex_color(ZEBRA))
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
        c.setStrokeColor(hex_color(RULE))
        c.setLineWidth(0.6)
        c.line(MARGIN_X, top, MARGIN_X, bottom)
        c.line(MARGIN_X + CONTENT_WIDTH, top, MARGIN_X + CONTENT_WIDTH, bottom)
        if self.last:
            c.line(MARGIN_X, bottom, MARGIN_X + CONTENT_WIDTH, bottom)
        else:
            hline(c, MARGIN_X, MARGIN_X + CONTENT_WIDTH, bottom)


class Verification(Block):
    """The QR code to the public verification page, its URL and the chain hash (and the journal
    checkpoint's root, when there is one: its label and the hash)."""

    def __init__(
        self,
        lay: Layout,
        title: str,
        chain_label: str,
        chain_hash: str,
        url: str,
        verify_text: str,
        journal: tuple[str, str] | None = None,
    ) -> None:
        self.lay, self.title, self.url = lay, title, url
        # The image carries its own white quiet zone; the code and the URL line up inside it.
        self.quiet = QR_SIZE * QR_QUIET_ZONE / (len(qr_modules(url)) + 2 * QR_QUIET_ZONE)
        self.text_width = CONTENT_WIDTH - 1 - QR_SIZE - 2 * PAD
        self.paras = [
            (lay.text(chain_label, S_LABEL, self.text_width), 1.5),
            (lay.data(chain_hash, S_HASH, self.text_width), 7.0),
        ]
        if journal is not None:
            journal_label, root = journal
            self.paras += [
                (lay.text(journal_label, S_LABEL, self.text_width), 1.5),
                (lay.data(root, S_HASH, self.text_width), 7.0),
            ]
        self.paras.append((lay.text(verify_text, S_VALUE, self.text_width), 0.0))
        self.url_para = lay.data(url, S_URL, CONTENT_WIDTH - 1 - self.quiet - PAD)
        self.text_height = sum(p.height + gap for p, gap in self.paras)
        body = max(QR_SIZE - 3, self.quiet + self.text_height) + self.url_para.height
        self.height = TITLE_BAR + 1 + body + PAD

    def draw(self, c: Canvas, top: float) -> None:
        lay = self.lay
        lay.bar(c, self.title, MARGIN_X, CONTENT_WIDTH, top)
        y = top - TITLE_BAR - 1
        qr_left = lay.x(MARGIN_X, CONTENT_WIDTH, 1, QR_SIZE)
        c.drawImage(ImageReader(qr_image(self.url)), qr_left, y - QR_SIZE, QR_SIZE, QR_SIZE)
        text_left = lay.x(MARGIN_X, CONTENT_WIDTH, 1 + QR_SIZE + PAD, self.text_width)
        text_top = y - self.quiet + 1
        for para, gap in self.paras:
            para.draw(c, text_left, text_top, lay.start)
            text_top -= para.height + gap
        url_top = y - max(QR_SIZE - 3, self.quiet + self.text_height)
        url_left = lay.x(MARGIN_X, CONTENT_WIDTH, 1 + self.quiet, self.url_para.width)
        self.url_para.draw(c, url_left, url_top, lay.start)
        frame(c, MARGIN_X, top - self.height, CONTENT_WIDTH, self.height)


def paginate(blocks: Sequence[Block], top: float, bottom: float) -> list[list[tuple[Block, float]]]:
    """Blocks placed on pages between `top` and `bottom`: (block, its top) per page.  A block that
    keeps with the next one moves with it; a row that starts a page repeats its header first."""
    pages: list[list[tuple[Block, float]]] = [[]]
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
