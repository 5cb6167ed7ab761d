"""Active content in a PDF: what a reader may run, open or send when the recipient opens the letter.

A registered letter is a document to read.  JavaScript (document-level, in an OpenAction, in a
page's or a field's additional actions), actions that launch a program or open another file
(Launch, GoToR, GoToE, a URI that is not a web or mail address), forms that send data
(SubmitForm, ImportData), embedded files (the EmbeddedFiles name tree, file attachment
annotations), XFA forms and rich media are refused at deposit, unless the sender's organisation
is allowed them (`Organisation.allows_active_content`, set by an operator), in which case the
recipient is told what the document holds before downloading it.

The whole object graph reachable from the document's catalogue is walked (pypdf resolves indirect
objects and object streams), bounded so that a hostile file cannot make the walk endless.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, TextStringObject

# What each kind is called, in English (the API's messages); pages translate the codes.
KINDS: dict[str, str] = {
    "javascript": "JavaScript",
    "launch": "actions that launch programs or open files",
    "uri_launch": "links that open something other than a web page or an email",
    "submit_form": "forms that send data",
    "embedded_files": "embedded files",
    "xfa": "XFA forms",
    "rich_media": "rich media (Flash, video, 3D)",
}
ORDER = tuple(KINDS)

_ACTIONS = {
    "/JavaScript": "javascript",
    "/Launch": "launch",
    "/GoToR": "launch",
    "/GoToE": "launch",
    "/SubmitForm": "submit_form",
    "/ImportData": "submit_form",
    "/RichMediaExecute": "rich_media",
    "/Movie": "rich_media",
    "/Sound": "rich_media",
    "/Rendition": "rich_media",
}
_ANNOTATIONS = {
    "/FileAttachment": "embedded_files",
    "/RichMedia": "rich_media",
    "/Movie": "rich_media",
    "/Sound": "rich_media",
    "/Screen": "rich_media",
    "/3D": "rich_media",
}
_SAFE_URI_SCHEMES = ("http://", "https://", "mailto:", "tel:")
# Far more objects than any letter holds; past it the file is refused as damaged, not walked forever.
MAX_OBJECTS = 200_000


class TooComplex(Exception):
    """The PDF holds more objects than a letter plausibly could."""


def find_active_content(reader: PdfReader) -> tuple[str, ...]:
    """The kinds of active content the document holds (codes of `KINDS`, in its order); () if none."""
    found: set[str] = set()
    for node in _walk(reader.trailer.get("/Root")):
        found.update(_kinds_of(node))
        if found >= set(ORDER):
            break
    return tuple(kind for kind in ORDER if kind in found)


def describe(kinds: tuple[str, ...]) -> str:
    return ", ".join(KINDS[kind] for kind in kinds)


def _kinds_of(node: DictionaryObject) -> Iterator[str]:
    if "/JS" in node or "/JavaScript" in node:
        yield "javascript"
    action = node.get("/S")
    if isinstance(action, NameObject) and action in _ACTIONS:
        yield _ACTIONS[action]
    if action == "/URI":
        uri = _resolved(node.get("/URI"))
        text = str(uri).strip().lower() if isinstance(uri, str | bytes | TextStringObject) else ""
        if not text.startswith(_SAFE_URI_SCHEMES):
            yield "uri_launch"
    subtype = node.get("/Subtype")
    if isinstance(subtype, NameObject) and subtype in _ANNOTATIONS and node.get("/Type", "/Annot") == "/Annot":
        yield _ANNOTATIONS[subtype]
    if "/EmbeddedFiles" in node or "/EF" in node or node.get("/Type") == "/EmbeddedFile":
        yield "embedded_files"
    if "/XFA" in node:
        yield "xfa"
    if "/RichMediaContent" in node:
        yield "rich_media"


def _resolved(value: Any) -> Any:
    return value.get_object() if isinstance(value, IndirectObject) else value


def _walk(root: Any) -> Iterator[DictionaryObject]:
    """Every dictionary reachable from `root` (stream dictionaries included), each indirect object once."""
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [root]
    visited = 0
    while stack:
        value = stack.pop()
        if isinstance(value, IndirectObject):
            key = (value.idnum, value.generation)
            if key in seen:
                continue
            seen.add(key)
            value = value.get_object()
        visited += 1
        if visited > MAX_OBJECTS:
            raise TooComplex()
        if isinstance(value, DictionaryObject):
            yield value
            for name, child in value.items():
                if name in ("/Parent", "/P"):  # back-references: reached from above anyway
                    continue
                if isinstance(child, IndirectObject | DictionaryObject | ArrayObject):
                    stack.append(child)
        elif isinstance(value, ArrayObject):
            stack.extend(item for item in value if isinstance(item, IndirectObject | DictionaryObject | ArrayObject))
