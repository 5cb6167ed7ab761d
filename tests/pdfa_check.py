"""An independent check of the PDF/A-3b requirements that matter structurally (ISO 19005-3, level B).

No PDF/A validator (veraPDF and the like) installs here from PyPI, npm or
Debian, so the tests check the rules that can be read off the file's
structure, written from the standard and veraPDF's published PDF/A-3B rule
list, not from our code: pypdf reads the file, `xml.etree` the XMP, asn1crypto
the CMS, and poppler's `pdfinfo`/`pdffonts` and `qpdf --check` give a second
opinion when they are installed (`make test` installs them).

`pdfa3b_problems` returns every problem found (an empty list: none).  It reads
the file's last revision, as a validator does, and checks every signature
against the revision it belongs to, so a file that goes on after its first
signature (a DSS, a document timestamp) is judged the same way.

Not checked here: content-stream operators and colour-space use (the check
only requires an RGB output intent, which covers the DeviceRGB and DeviceGray
the proofs paint with) and glyph-level font checks (.notdef, widths).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from asn1crypto import cms
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
)

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
PDFAID = "http://www.aiim.org/pdfa/ns/id/"
DC = "http://purl.org/dc/elements/1.1/"
XMP = "http://ns.adobe.com/xap/1.0/"
PDF = "http://ns.adobe.com/pdf/1.3/"
XMP_MM = "http://ns.adobe.com/xap/1.0/mm/"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Properties of the schemas PDF/A predefines that a file may use without an extension schema
# (XMP Specification 2005 and ISO 19005); anything else needs a pdfaExtension description.
PREDEFINED = {
    PDFAID: _words("part conformance amd corr"),
    DC: _words(
        "contributor coverage creator date description format identifier language publisher relation rights "
        "source subject title type"
    ),
    XMP: _words(
        "Advisory BaseURL CreateDate CreatorTool Identifier Label MetadataDate ModifyDate Nickname Rating Thumbnails"
    ),
    PDF: _words("Keywords PDFVersion Producer"),
    XMP_MM: _words(
        "DerivedFrom DocumentID History InstanceID ManagedFrom Manager ManageTo ManageUI ManagerVariant "
        "RenditionClass RenditionParams VersionID Versions"
    ),
}

ANNOTATION_TYPES = _words(
    "Text Link FreeText Line Square Circle Polygon PolyLine Highlight Underline Squiggly StrikeOut Stamp Caret Ink "
    "Popup FileAttachment Widget PrinterMark TrapNet Watermark Redact"
)
FORBIDDEN_ACTIONS = _words(
    "Launch Sound Movie ResetForm ImportData Hide SetOCGState Rendition Trans GoTo3DView JavaScript"
)
BLEND_MODES = _words(
    "Normal Compatible Multiply Screen Overlay Darken Lighten ColorDodge ColorBurn HardLight SoftLight Difference "
    "Exclusion Hue Saturation Color Luminosity"
)
AF_RELATIONSHIPS = {"Source", "Data", "Alternative", "Supplement", "Unspecified"}
MIME_TYPE = re.compile(r"[-\w+.]+/[-\w+.]+", re.ASCII)
PDF_DATE = re.compile(r"D:(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:(Z)(?:00'?00'?)?|([+-])(\d{2})'?(\d{2})'?)?$")

# Annotation flags (ISO 32000-1, table 165).
INVISIBLE, HIDDEN, PRINT, NO_VIEW, TOGGLE_NO_VIEW = 1, 2, 4, 32, 256


@dataclass
class XmpMetadata:
    """The properties of an XMP packet: simple values, and the items of arrays (language, text)."""

    simple: dict[tuple[str, str], str] = field(default_factory=dict)
    arrays: dict[tuple[str, str], list[tuple[str | None, str]]] = field(default_factory=dict)

    def names(self) -> set[tuple[str, str]]:
        return set(self.simple) | set(self.arrays)

    def text(self, namespace: str, name: str) -> str | None:
        return self.simple.get((namespace, name))

    def default(self, namespace: str, name: str) -> str | None:
        """The x-default item of a language alternative (or the first item of a sequence)."""
        items = self.arrays.get((namespace, name), [])
        for language, value in items:
            if language == "x-default":
                return value
        return items[0][1] if items else None


def parse_pdf_date(text: str) -> datetime | None:
    """A PDF date (ISO 32000-1, 7.9.4) to the second; None if it is not one."""
    match = PDF_DATE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    zone: timezone = UTC
    if match.group(8):
        offset = timedelta(hours=int(match.group(9)), minutes=int(match.group(10)))
        zone = timezone(offset if match.group(8) == "+" else -offset)
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def parse_xmp(data: bytes) -> XmpMetadata:
    """The top-level properties of every rdf:Description of the packet (attribute or element form)."""
    root = ElementTree.fromstring(data)  # noqa: S314 - a test reading the files the code under test wrote
    found = XmpMetadata()
    for description in root.iter(f"{{{RDF}}}Description"):
        for key, value in description.attrib.items():
            namespace, name = _split(key)
            if namespace not in (RDF, XML):
                found.simple[(namespace, name)] = value
        for child in description:
            namespace, name = _split(child.tag)
            container = next(iter(child), None)
            if container is not None and _split(container.tag) in {(RDF, "Alt"), (RDF, "Seq"), (RDF, "Bag")}:
                found.arrays[(namespace, name)] = [
                    (item.get(f"{{{XML}}}lang"), item.text or "") for item in container.iter(f"{{{RDF}}}li")
                ]
            else:
                found.simple[(namespace, name)] = child.text or ""
    return found


def pdfa3b_problems(pdf: bytes) -> list[str]:
    """Every PDF/A-3b requirement this file breaks, among those checked here."""
    problems: list[str] = []
    problems += _file_structure(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    trailer = reader.trailer
    root = trailer["/Root"].get_object()
    problems += _trailer(trailer)
    problems += _metadata(root, trailer)
    problems += _output_intents(root)
    problems += _fonts(reader)
    problems += _attachments(root)
    problems += _annotations(reader)
    problems += _objects(reader, root)
    problems += _signatures(pdf, root)
    return problems


# --- file structure (6.1) --------------------------------------------------------------------------


def _file_structure(pdf: bytes) -> list[str]:
    problems = []
    if not re.match(rb"%PDF-1\.[0-7](\r\n|\r|\n)%[\x80-\xff]{4}", pdf):
        problems.append("6.1.2: the header is not %PDF-1.n (n <= 7) then a comment of four bytes above 127")
    if not re.search(rb"%%EOF(\r\n|\r|\n)?\Z", pdf):
        problems.append("6.1.3: something other than one end-of-line follows the last %%EOF")
    return problems


def _trailer(trailer: DictionaryObject) -> list[str]:
    problems = []
    identifiers = _get(trailer, "/ID")
    if not isinstance(identifiers, ArrayObject) or len(identifiers) != 2 or not all(identifiers):
        problems.append("6.1.3: the trailer has no /ID of two non-empty strings")
    if "/Encrypt" in trailer:
        problems.append("6.1.3: the file is encrypted (/Encrypt in the trailer)")
    return problems


# --- metadata (6.6) --------------------------------------------------------------------------------

# Info dictionary key -> (XMP namespace, property, how the value is held)
INFO_TO_XMP = {
    "/Title": (DC, "title", "default"),
    "/Author": (DC, "creator", "default"),
    "/Subject": (DC, "description", "default"),
    "/Keywords": (PDF, "Keywords", "simple"),
    "/Creator": (XMP, "CreatorTool", "simple"),
    "/Producer": (PDF, "Producer", "simple"),
    "/CreationDate": (XMP, "CreateDate", "date"),
    "/ModDate": (XMP, "ModifyDate", "date"),
}


def metadata_of(pdf: bytes) -> tuple[bytes, XmpMetadata, dict[str, str]]:
    """The raw XMP packet, its properties and the Info dictionary of the file's last revision."""
    reader = PdfReader(io.BytesIO(pdf))
    stream = reader.trailer["/Root"]["/Metadata"].get_object()
    data = stream.get_data()
    info = reader.trailer["/Info"].get_object() if "/Info" in reader.trailer else {}
    return data, parse_xmp(data), {key: str(value) for key, value in info.items()}


def _metadata(root: DictionaryObject, trailer: DictionaryObject) -> list[str]:
    stream = _get(root, "/Metadata")
    stream = stream.get_object() if stream is not None else None
    if not isinstance(stream, StreamObject):
        return ["6.6.2.1: the catalog has no /Metadata stream"]
    problems = []
    if _get(stream, "/Type") != "/Metadata" or _get(stream, "/Subtype") != "/XML":
        problems.append("6.6.2.1: the metadata stream is not /Type /Metadata /Subtype /XML")
    data = stream.get_data()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [*problems, "6.6.2.1: the XMP is not UTF-8"]
    header = re.match(r"\ufeff?\s*<\?xpacket ([^?]*)\?>", text)
    if header is None:
        problems.append("6.6.2.1: the XMP does not start with an xpacket header")
    elif re.search(r"\b(bytes|encoding)=", header.group(1)):
        problems.append("6.6.2.1: the xpacket header has a bytes or encoding attribute")
    try:
        xmp = parse_xmp(data)
    except ElementTree.ParseError as exc:
        return [*problems, f"6.6.2.1: the XMP is not well-formed XML: {exc}"]

    if xmp.text(PDFAID, "part") != "3":
        problems.append(f"6.6.4: pdfaid:part is {xmp.text(PDFAID, 'part')!r}, not 3")
    if xmp.text(PDFAID, "conformance") != "B":
        problems.append(f"6.6.4: pdfaid:conformance is {xmp.text(PDFAID, 'conformance')!r}, not B")
    bound = set(re.findall(r'xmlns:([\w.-]+)="http://www\.aiim\.org/pdfa/ns/id/"', text))
    if bound - {"pdfaid"}:
        problems.append(f"6.6.4: the PDF/A identification namespace has the prefix {bound - {'pdfaid'}}")
    for namespace, name in sorted(xmp.names()):
        if name not in PREDEFINED.get(namespace, set()):
            problems.append(f"6.6.2.3.1: XMP property {{{namespace}}}{name} is in no predefined schema")

    info = trailer["/Info"].get_object() if "/Info" in trailer else DictionaryObject()
    for key, (namespace, name, kind) in INFO_TO_XMP.items():
        if key not in info:
            continue
        value = str(info[key])
        if kind == "date":
            info_date = parse_pdf_date(value)
            xmp_text = xmp.text(namespace, name)
            xmp_date = _xmp_date(xmp_text)
            if info_date is None or xmp_date is None or info_date != xmp_date:
                problems.append(f"6.6: Info {key} {value!r} differs from XMP {name} {xmp_text!r}")
        else:
            held = xmp.default(namespace, name) if kind == "default" else xmp.text(namespace, name)
            if held != value:
                problems.append(f"6.6: Info {key} {value!r} differs from XMP {name} {held!r}")
    return problems


def _xmp_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# --- output intent (6.2.3) -------------------------------------------------------------------------


def _output_intents(root: DictionaryObject) -> list[str]:
    intents = _get(root, "/OutputIntents")
    intents = intents.get_object() if intents is not None else None
    if not isinstance(intents, ArrayObject) or not intents:
        return ["6.2.3: the catalog has no /OutputIntents"]
    problems = []
    profiles = {_reference(intent.get_object().raw_get("/DestOutputProfile")) for intent in intents}
    if len(profiles) > 1:
        problems.append("6.2.3: the output intents do not share one destination profile")
    pdfa = [intent.get_object() for intent in intents if _get(intent.get_object(), "/S") == "/GTS_PDFA1"]
    if not pdfa:
        return [*problems, "6.2.3: no output intent has /S /GTS_PDFA1"]
    intent = pdfa[0]
    if "/OutputConditionIdentifier" not in intent:
        problems.append("6.2.3: the PDF/A output intent has no /OutputConditionIdentifier")
    profile = _get(intent, "/DestOutputProfile")
    profile = profile.get_object() if profile is not None else None
    if not isinstance(profile, StreamObject):
        return [*problems, "6.2.3: the PDF/A output intent has no /DestOutputProfile stream"]
    data = profile.get_data()
    if _get(profile, "/N") != 3:
        problems.append(f"6.2.3: the profile's /N is {profile.get('/N')}, not 3 (RGB)")
    if len(data) < 128 or data[36:40] != b"acsp":
        return [*problems, "6.2.3: the destination profile is not an ICC profile (no 'acsp' at offset 36)"]
    if int.from_bytes(data[:4], "big") != len(data):
        problems.append("6.2.3: the ICC profile's declared size is not its length")
    if data[12:16] not in (b"mntr", b"prtr"):
        problems.append(f"6.2.3: the ICC profile's class is {data[12:16]!r}, not an output or display profile")
    if data[16:20] != b"RGB ":
        problems.append(f"6.2.3: the ICC profile's colour space is {data[16:20]!r}, not RGB")
    if not 2 <= data[8] < 5:
        problems.append(f"6.2.3: ICC profile version {data[8]} is not 2 to 4")
    return problems


# --- fonts (6.2.11) --------------------------------------------------------------------------------


def _resources_fonts(resources: Any, seen: set[int]) -> Iterator[DictionaryObject]:
    """Every font a resource dictionary uses, including inside form XObjects."""
    resources = resources.get_object() if resources is not None else None
    if not isinstance(resources, DictionaryObject):
        return
    fonts = _get(resources, "/Font")
    for ref in fonts.get_object().values() if fonts is not None else []:
        key = _reference(ref)
        if key not in seen:
            seen.add(key)
            yield ref.get_object()
    xobjects = _get(resources, "/XObject")
    for ref in xobjects.get_object().values() if xobjects is not None else []:
        key = _reference(ref)
        xobject = ref.get_object()
        if key not in seen and _get(xobject, "/Subtype") == "/Form":
            seen.add(key)
            yield from _resources_fonts(_get(xobject, "/Resources"), seen)


def _appearance_streams(annotation: DictionaryObject) -> Iterator[StreamObject]:
    appearances = _get(annotation, "/AP")
    for value in appearances.get_object().values() if appearances is not None else []:
        value = value.get_object()
        if isinstance(value, StreamObject):
            yield value
        elif isinstance(value, DictionaryObject):
            yield from (state.get_object() for state in value.values())


def _fonts(reader: PdfReader) -> list[str]:
    problems = []
    seen: set[int] = set()
    fonts: list[DictionaryObject] = []
    for page in reader.pages:
        fonts += _resources_fonts(_get(page, "/Resources"), seen)
        for annotation in _get(page, "/Annots") or []:
            for stream in _appearance_streams(annotation.get_object()):
                fonts += _resources_fonts(_get(stream, "/Resources"), seen)
    for font in fonts:
        name = str(_get(font, "/BaseFont", "?"))
        subtype = _get(font, "/Subtype")
        if subtype == "/Type3":
            continue
        described = font["/DescendantFonts"][0].get_object() if subtype == "/Type0" else font
        descriptor = _get(described, "/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else DictionaryObject()
        if not any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
            problems.append(f"6.2.11.4.1: font {name} is not embedded")
        if subtype == "/TrueType":
            symbolic = int(_get(descriptor, "/Flags", 0)) & 4
            encoding = _get(font, "/Encoding")
            if symbolic and encoding is not None:
                problems.append(f"6.2.11.6: symbolic TrueType font {name} has an /Encoding")
            if not symbolic:
                encoding = encoding.get_object() if encoding is not None else None
                if isinstance(encoding, DictionaryObject):
                    encoding = _get(encoding, "/BaseEncoding")
                if encoding not in ("/WinAnsiEncoding", "/MacRomanEncoding"):
                    problems.append(f"6.2.11.6: non-symbolic TrueType font {name} has encoding {encoding}")
    return problems


# --- associated files (6.8) ------------------------------------------------------------------------


def name_tree(node: DictionaryObject) -> list[tuple[str, Any]]:
    """The (key, raw value) pairs of a name tree, in the order the file holds them."""
    pairs = []
    names = _get(node, "/Names")
    if names is not None:
        names = names.get_object()
        pairs += [(str(names[index]), names[index + 1]) for index in range(0, len(names) - 1, 2)]
    for kid in _get(node, "/Kids") or []:
        pairs += name_tree(kid.get_object())
    return pairs


def _attachments(root: DictionaryObject) -> list[str]:
    problems = []
    associated_refs = _get(root, "/AF")
    associated_refs = associated_refs.get_object() if associated_refs is not None else ArrayObject()
    associated = {_reference(ref) for ref in associated_refs}
    for ref in associated_refs:
        if not isinstance(ref.get_object(), DictionaryObject):
            problems.append("6.8: an /AF entry is not a file specification")
    names = _get(root, "/Names")
    tree = _get(names.get_object(), "/EmbeddedFiles") if names is not None else None
    if tree is None:
        return problems
    entries = name_tree(tree.get_object())
    keys = [key.encode("utf-8", "surrogatepass") for key, _ in entries]
    if keys != sorted(keys):
        problems.append("7.9.6: the /EmbeddedFiles name tree is not sorted")
    for key, ref in entries:
        spec = ref.get_object()
        if _reference(ref) not in associated:
            problems.append(f"6.8: {key} is not listed in the catalog's /AF (not an associated file)")
        problems += _file_spec(key, spec)
    return problems


def _file_spec(key: str, spec: DictionaryObject) -> list[str]:
    problems = []
    for entry in ("/F", "/UF", "/Desc"):
        if entry not in spec:
            problems.append(f"6.8: the file specification of {key} has no {entry}")
    relationship = _get(spec, "/AFRelationship")
    if not isinstance(relationship, NameObject) or relationship[1:] not in AF_RELATIONSHIPS:
        problems.append(f"6.8: {key} has no valid /AFRelationship ({relationship})")
    embedded = _get(spec, "/EF")
    embedded = embedded.get_object() if embedded is not None else None
    if not isinstance(embedded, DictionaryObject) or "/F" not in embedded:
        return [*problems, f"6.8: {key} has no embedded file stream (/EF /F)"]
    stream = embedded["/F"].get_object()
    if _get(stream, "/Type") != "/EmbeddedFile":
        problems.append(f"6.8: the embedded stream of {key} is not /Type /EmbeddedFile")
    subtype = _get(stream, "/Subtype")
    if not isinstance(subtype, NameObject) or not MIME_TYPE.fullmatch(subtype[1:]):
        problems.append(f"6.8: the embedded stream of {key} has no MIME type /Subtype ({subtype})")
    params = _get(stream, "/Params")
    params = params.get_object() if params is not None else DictionaryObject()
    if "/ModDate" not in params or parse_pdf_date(str(params["/ModDate"])) is None:
        problems.append(f"6.8: the embedded stream of {key} has no /Params /ModDate date")
    if "/Size" in params and int(params["/Size"]) != len(stream.get_data()):
        problems.append(f"6.8: /Params /Size of {key} is not its length")
    return problems


# --- annotations and forms (6.3, 6.4) --------------------------------------------------------------


def _annotations(reader: PdfReader) -> list[str]:
    problems = []
    for number, page in enumerate(reader.pages, start=1):
        for ref in _get(page, "/Annots") or []:
            annotation = ref.get_object()
            subtype = str(_get(annotation, "/Subtype", "/?"))[1:]
            where = f"page {number}, {subtype} annotation"
            if subtype not in ANNOTATION_TYPES:
                problems.append(f"6.3.1: {where}: type not permitted")
            flags = _get(annotation, "/F")
            if flags is None:
                if subtype != "Popup":
                    problems.append(f"6.3.2: {where} has no /F flags")
            else:
                flags = int(flags)
                if not flags & PRINT:
                    problems.append(f"6.3.2: {where} does not have the print flag")
                if flags & (INVISIBLE | HIDDEN | NO_VIEW | TOGGLE_NO_VIEW):
                    problems.append(f"6.3.2: {where} is hidden, invisible or not viewable (flags {flags})")
            rect = [float(value) for value in _get(annotation, "/Rect", [0, 0, 0, 0])]
            empty = rect[2] - rect[0] == 0 and rect[3] - rect[1] == 0
            appearance = _get(annotation, "/AP")
            if appearance is None and not empty and subtype not in ("Popup", "Link"):
                problems.append(f"6.3.3: {where} has no appearance stream")
            if appearance is not None and set(appearance.get_object()) != {"/N"}:
                problems.append(f"6.3.3: {where} has appearances other than /N")
            if subtype == "Widget" and ("/A" in annotation or "/AA" in annotation):
                problems.append(f"6.4.1: {where} has an action")
    return problems


# --- every object: actions, JavaScript, images, graphics states (6.1, 6.2, 6.4, 6.5, 6.10) --------------


def _objects(reader: PdfReader, root: DictionaryObject) -> list[str]:
    problems = []
    for key in ("/AA", "/NeedsRendering", "/Requirements"):
        if key in root:
            problems.append(f"6.5/6.11: the catalog has {key}")
    names = _get(root, "/Names")
    names = names.get_object() if names is not None else DictionaryObject()
    for key in ("/JavaScript", "/AlternatePresentations"):
        if key in names:
            problems.append(f"6.5/6.10: the name dictionary has {key}")
    form = _get(root, "/AcroForm")
    form = form.get_object() if form is not None else DictionaryObject()
    if "/XFA" in form:
        problems.append("6.4.2: the interactive form has XFA")
    if _get(form, "/NeedAppearances"):
        problems.append("6.4.1: the interactive form asks for /NeedAppearances")
    permissions = _get(root, "/Perms")
    if permissions is not None and set(permissions.get_object()) - {"/UR3", "/DocMDP"}:
        problems.append("6.1.12: the permissions dictionary has keys other than /UR3 and /DocMDP")
    for page in reader.pages:
        if "/AA" in page:
            problems.append("6.5.2: a page has additional actions (/AA)")
        if "/PresSteps" in page:
            problems.append("6.10: a page has /PresSteps")

    embedded_specs: set[int] = set()
    associated = _get(root, "/AF")
    associated = {_reference(ref) for ref in (associated.get_object() if associated is not None else [])}
    numbers = {number for table in reader.xref.values() for number in table} | set(reader.xref_objStm)
    for number in sorted(numbers):
        obj = reader.get_object(number)
        if not isinstance(obj, DictionaryObject):
            continue
        action = _get(obj, "/S")
        if isinstance(action, NameObject) and action[1:] in FORBIDDEN_ACTIONS and _get(obj, "/Type") != "/Trans":
            problems.append(f"6.5.1: object {number} is a {action[1:]} action")
        if "/JS" in obj:
            problems.append(f"6.5.1: object {number} holds JavaScript")
        if _get(obj, "/Type") == "/Filespec" and "/EF" in obj:
            embedded_specs.add(number)
            if number not in associated:
                problems.append(f"6.8: embedded file specification {number} is not in the catalog's /AF")
        if _get(obj, "/Subtype") == "/Image":
            if _get(obj, "/Interpolate"):
                problems.append(f"6.2.8: image {number} asks for interpolation")
            for key in ("/Alternates", "/OPI"):
                if key in obj:
                    problems.append(f"6.2.8: image {number} has {key}")
            if not _get(obj, "/ImageMask") and _get(obj, "/BitsPerComponent", 8) not in (1, 2, 4, 8, 16):
                problems.append(f"6.2.8: image {number} has {obj.get('/BitsPerComponent')} bits per component")
        if _get(obj, "/Subtype") == "/PS" or (_get(obj, "/Subtype") == "/Form" and "/Ref" in obj):
            problems.append(f"6.2.9: object {number} is a PostScript or reference XObject")
        if _get(obj, "/Type") == "/ExtGState":
            for key in ("/TR", "/HTP"):
                if key in obj:
                    problems.append(f"6.2.5: graphics state {number} has {key}")
            if "/TR2" in obj and obj["/TR2"] != "/Default":
                problems.append(f"6.2.5: graphics state {number} has a /TR2 transfer function")
            blend = _get(obj, "/BM")
            modes = blend if isinstance(blend, ArrayObject) else [blend] if blend is not None else []
            if any(str(mode)[1:] not in BLEND_MODES for mode in modes):
                problems.append(f"6.2.10: graphics state {number} has a blend mode outside ISO 32000-1")
    return problems


# --- signatures (6.4.3) ----------------------------------------------------------------------------


def signature_fields(root: DictionaryObject) -> Iterator[DictionaryObject]:
    """The signature fields (signatures and document timestamps) of the interactive form."""
    form = _get(root, "/AcroForm")
    stack = list(_get(form.get_object(), "/Fields") or []) if form is not None else []
    while stack:
        node = stack.pop().get_object()
        stack += _get(node, "/Kids") or []
        if _get(node, "/FT") == "/Sig" and "/V" in node:
            yield node


def _signatures(pdf: bytes, root: DictionaryObject) -> list[str]:
    problems = []
    for node in signature_fields(root):
        name = str(_get(node, "/T", "?"))
        value = node["/V"].get_object()
        byte_range = [int(number) for number in _get(value, "/ByteRange", [])]
        if len(byte_range) != 4 or byte_range[0] != 0:
            problems.append(f"6.4.3: signature {name} has no byte range from the start of the file")
            continue
        _, before, after, rest = byte_range
        gap = pdf[before:after]
        if not re.fullmatch(rb"<[0-9A-Fa-f]*>", gap):
            problems.append(f"6.4.3: the byte range of {name} leaves out more than its /Contents")
        end = after + rest
        if end > len(pdf) or not re.search(rb"%%EOF(\r\n|\r|\n)?\Z", pdf[:end]):
            problems.append(f"6.4.3: the byte range of {name} does not end where a revision of the file ends")
        try:
            signed_data = cms.ContentInfo.load(bytes(value["/Contents"]))["content"]
            signers = len(signed_data["signer_infos"])
        except ValueError:
            problems.append(f"6.4.3: signature {name} is not a CMS SignedData")
            continue
        if signers != 1:
            problems.append(f"6.4.3: signature {name} has {signers} signers, not one")
    return problems


def _get(dictionary: Any, key: str, default: Any = None) -> Any:
    """An entry with its indirect reference followed (pypdf's `get` returns references as they are)."""
    value = dictionary.get(key)
    return default if value is None else value.get_object()


def _reference(ref: Any) -> int:
    return ref.idnum if isinstance(ref, IndirectObject) else id(ref)


def _split(tag: str) -> tuple[str, str]:
    namespace, _, name = tag[1:].partition("}")
    return namespace, name


# --- the same file, seen by poppler and qpdf -------------------------------------------------------

TOOLS = ("pdfinfo", "pdffonts", "qpdf")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def tool_problems(pdf: bytes) -> list[str]:
    """What poppler's pdfinfo and pdffonts and `qpdf --check` object to (needs all three installed)."""
    problems = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "proof.pdf"
        path.write_bytes(pdf)
        checked = subprocess.run(["qpdf", "--check", path], capture_output=True, text=True, timeout=60)
        if checked.returncode != 0:
            problems.append(f"qpdf --check: {checked.stdout.strip()} {checked.stderr.strip()}")
        info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, timeout=60)
        fields = dict(line.split(":", 1) for line in info.stdout.splitlines() if ":" in line)
        if info.returncode != 0 or info.stderr.strip():
            problems.append(f"pdfinfo: {info.stderr.strip()}")
        if fields.get("Encrypted", "").strip() != "no":
            problems.append(f"pdfinfo: Encrypted: {fields.get('Encrypted', '').strip()}")
        if fields.get("JavaScript", "no").strip() != "no":
            problems.append("pdfinfo: the file has JavaScript")
        if fields.get("Metadata Stream", "").strip() != "yes":
            problems.append("pdfinfo: no metadata stream")
        fonts = subprocess.run(["pdffonts", path], capture_output=True, text=True, timeout=60)
        lines = fonts.stdout.splitlines()
        if fonts.returncode != 0 or len(lines) < 2:
            problems.append(f"pdffonts: {fonts.stderr.strip()}")
        else:
            column = lines[0].index("emb")
            for line in lines[2:]:
                if line[column : column + 3] != "yes":
                    problems.append(f"pdffonts: not embedded: {line.split()[0]}")
    return problems
