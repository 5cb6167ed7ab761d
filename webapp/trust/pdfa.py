"""PDF/A-3b (ISO 19005-3, level B) for the proofs: what a proof declares, and how it stays so.

A proof is an archive document: a judge's expert must be able to render it and
read its attachments in decades, with nothing from outside the file.  PDF/A-3
level B asks, among other things, for:

- XMP metadata in the catalog naming the part and level (`pdfaid:part` 3,
  `pdfaid:conformance` B) and saying the same as the Info dictionary;
- an output intent whose ICC profile gives a meaning to the device colours
  the pages paint with (here sRGB);
- every font embedded, no encryption, no JavaScript, no hidden annotation;
- every embedded file *associated* with the document: listed in the catalog's
  `/AF` array, with its relationship, MIME type and modification date.

`proof_pdf` draws the first two into every rendered proof (`xmp_packet`,
`srgb_profile`); `proofs.sign_proof_pdf` embeds the evidence with
`attach_file`.  pyHanko rewrites the producer and the modification date of the
Info dictionary and of the XMP on every incremental update it writes (the
signature, a DSS, a document timestamp), each its own way: `prepare_update`,
called on each such writer before it writes, keeps the two from disagreeing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR

__all__ = [
    "AF_RELATIONSHIPS",
    "OUTPUT_CONDITION",
    "PDFA_CONFORMANCE",
    "PDFA_PART",
    "AttachmentError",
    "DocumentInfo",
    "attach_file",
    "prepare_update",
    "srgb_profile",
    "xmp_date",
    "xmp_packet",
]

PDFA_PART = 3
PDFA_CONFORMANCE = "B"
OUTPUT_CONDITION = "sRGB IEC61966-2.1"  # the registered name of the condition the profile describes
ICC_PROFILE = Path(__file__).resolve().parent / "icc" / "sRGB.icc"
# The relationships ISO 19005-3 (and ISO 32000-2, table 43) define for an associated file.
AF_RELATIONSHIPS = frozenset({"Source", "Data", "Alternative", "Supplement", "Unspecified"})
# What PDF/A validators accept as an embedded file's /Subtype (veraPDF's rule 6.8-1).
_MIME_TYPE = re.compile(r"[-\w+.]+/[-\w+.]+", re.ASCII)
# Attachment names stay printable ASCII: /F must be PDFDocEncoding and the name tree sorts bytes.
_FILE_NAME = re.compile(r"[A-Za-z0-9._-][A-Za-z0-9._ -]*", re.ASCII)
# Characters XML 1.0 cannot carry (the XMP is XML): C0 controls but tab, newline and return.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class AttachmentError(ValueError):
    """An attachment PDF/A-3 would not accept: a bad name, MIME type or relationship, or a name already used."""


@dataclass(frozen=True)
class DocumentInfo:
    """The document metadata, written alike into the Info dictionary and the XMP (PDF/A asks them to agree)."""

    title: str
    author: str
    subject: str
    keywords: str
    creator: str  # the application that made the content (xmp:CreatorTool)
    producer: str  # the library that wrote the PDF (pdf:Producer)
    created: datetime
    modified: datetime


def xmp_date(moment: datetime) -> str:
    """An XMP date, to the second, in UTC ('2026-11-25T10:00:17+00:00'); naive times are taken as UTC."""
    return _utc(moment).replace(microsecond=0).isoformat()


def xmp_packet(info: DocumentInfo) -> bytes:
    """The XMP metadata packet of a PDF/A-3b document (UTF-8, read-only packet).

    Only properties of the schemas PDF/A predefines are used (Dublin Core, XMP
    basic, Adobe PDF, PDF/A identification): no extension schema is needed."""

    def text(value: str) -> str:
        if _NOT_XML.search(value):
            raise ValueError("XMP text cannot hold control characters")
        return escape(value)

    packet = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>{PDFA_PART}</pdfaid:part>
   <pdfaid:conformance>{PDFA_CONFORMANCE}</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{text(info.title)}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{text(info.author)}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{text(info.subject)}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreatorTool>{text(info.creator)}</xmp:CreatorTool>
   <xmp:CreateDate>{xmp_date(info.created)}</xmp:CreateDate>
   <xmp:ModifyDate>{xmp_date(info.modified)}</xmp:ModifyDate>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Producer>{text(info.producer)}</pdf:Producer>
   <pdf:Keywords>{text(info.keywords)}</pdf:Keywords>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>"""
    return packet.encode("utf-8")


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The sRGB ICC profile of the output intent (vendored, see `icc/README.md`)."""
    return ICC_PROFILE.read_bytes()


def attach_file(
    writer: IncrementalPdfFileWriter,
    *,
    name: str,
    data: bytes,
    mime_type: str,
    description: str,
    modified: datetime,
    relationship: str = "Supplement",
) -> None:
    """Embeds `data` as a PDF/A-3 associated file of the whole document, named `name`.

    The file specification has `/F` and `/UF` (both `name`), `/Desc` and
    `/AFRelationship`, and is listed in the catalog's `/AF` array and in the
    `/EmbeddedFiles` name tree, which stays sorted as name trees must be.  The
    embedded stream has the MIME type as `/Subtype` and `/Params` with `/Size`,
    `/CheckSum`, `/CreationDate` and `/ModDate` (both `modified`).

    pyHanko's `embed_file` is not used: it appends to the name tree unsorted,
    declares the file PDF 2.0 whenever a file is associated, and loses an
    addition to an `/AF` array an earlier revision wrote (it does not mark the
    array for update).  This works in any revision, including a later one.
    """
    if not _FILE_NAME.fullmatch(name) or name != name.strip():
        raise AttachmentError(f"attachment name {name!r}: use printable ASCII letters, digits, '.', '-', '_'")
    if not _MIME_TYPE.fullmatch(mime_type):
        raise AttachmentError(f"attachment {name}: {mime_type!r} is not a MIME type")
    if relationship not in AF_RELATIONSHIPS:
        raise AttachmentError(f"attachment {name}: unknown relationship {relationship!r}")
    if _NOT_XML.search(description):
        raise AttachmentError(f"attachment {name}: control characters in the description")

    tree = _embedded_files(writer)
    entries = _name_tree_entries(tree)
    if name in (key for key, _ in entries):
        raise AttachmentError(f"attachment {name} is already in the document")

    when = _utc(modified)
    stream = EmbeddedFileObject.from_file_data(
        writer,
        data=data,
        mime_type=mime_type,
        params=EmbeddedFileParams(embed_size=True, embed_checksum=True, creation_date=when, modification_date=when),
    )
    spec = FileSpec(
        file_spec_string=name,
        file_name=name,
        embedded_data=stream,
        description=description,
        af_relationship=generic.pdf_name(f"/{relationship}"),
    )
    spec_ref = writer.add_object(spec.as_pdf_object())

    entries.append((name, spec_ref))
    entries.sort(key=lambda entry: entry[0].encode("ascii", "backslashreplace"))
    names = tree["/Names"]
    names.clear()
    for key, ref in entries:
        names.append(generic.pdf_string(key))
        names.append(ref)
    writer.update_container(names)

    root = writer.root
    try:
        associated = root["/AF"]
    except KeyError:
        associated = generic.ArrayObject()
        root["/AF"] = writer.add_object(associated)
        writer.update_root()
    associated.append(spec_ref)
    writer.update_container(associated)


def prepare_update(writer: IncrementalPdfFileWriter) -> None:
    """Before `writer` writes its incremental update: the Info dictionary and the XMP will agree.

    On every write pyHanko sets the modification date of both, each from its
    own reading of the wall clock (a second may tick between them), sets the
    XMP producer to its own name and appends that name to the Info producer.
    Here the Info dictionary loses its /ModDate (pyHanko then dates only the
    XMP, in this revision and every later one: the Info entry never comes back
    while there is XMP) and takes pyHanko's name as producer, so that both say
    the same after the write.  Call it on every writer that appends to a proof
    (the signature's, a DSS's, a document timestamp's): with the same pyHanko
    the producer stays in step anyway, but a later pyHanko would append its
    name to the Info producer only.
    """
    info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if not isinstance(info_ref, generic.IndirectObject):
        return
    writer.mark_update(info_ref)
    info = info_ref.get_object()
    info.pop("/ModDate", None)
    info["/Producer"] = generic.TextStringObject(VENDOR)


def _utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC, which is what the evidence records store.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _embedded_files(writer: IncrementalPdfFileWriter) -> generic.DictionaryObject:
    """The root node of the document's /EmbeddedFiles name tree, made if missing."""
    root = writer.root
    try:
        names_dict = root["/Names"]
    except KeyError:
        names_dict = generic.DictionaryObject()
        root["/Names"] = writer.add_object(names_dict)
        writer.update_root()
    try:
        tree = names_dict["/EmbeddedFiles"]
    except KeyError:
        tree = generic.DictionaryObject()
        names_dict["/EmbeddedFiles"] = writer.add_object(tree)
        writer.update_container(names_dict)
    if "/Kids" in tree:
        raise AttachmentError("the document's embedded files are in a deep name tree")
    if "/Names" not in tree:
        tree["/Names"] = writer.add_object(generic.ArrayObject())
        writer.update_container(tree)
    result: generic.DictionaryObject = tree
    return result


def _name_tree_entries(tree: generic.DictionaryObject) -> list[tuple[str, generic.PdfObject]]:
    names = tree["/Names"]
    return [(str(names[index]), names.raw_get(index + 1)) for index in range(0, len(names) - 1, 2)]
