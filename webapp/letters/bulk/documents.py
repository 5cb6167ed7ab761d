"""The batch's PDFs: one for every row, or a ZIP of them opened within the limits (size, entries, total
uncompressed size, safe paths), each distinct document read and checked once."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import IO, Any

from webapp.letters.bulk.errors import N_, BatchRejected, RowError
from webapp.letters.bulk.limits import BulkLimits
from webapp.letters.deposit import check_pdf, format_limit
from webapp.letters.errors import LetterError


@dataclass(frozen=True)
class SinglePdf:
    """One PDF sent to every row."""

    data: bytes
    filename: str


@dataclass
class Archive:
    """The ZIP's PDF entries, by full name and by file name alone (when unique)."""

    zip: zipfile.ZipFile
    by_name: dict[str, zipfile.ZipInfo]
    by_basename: dict[str, zipfile.ZipInfo | None]

    def find(self, name: str) -> zipfile.ZipInfo | None:
        key = unicodedata.normalize("NFC", name.strip().replace("\\", "/"))
        return self.by_name.get(key) or self.by_basename.get(key.rsplit("/", 1)[-1])


def _archive_error(code: str, message: str, **params: Any) -> BatchRejected:
    return BatchRejected([RowError(None, "zip", code, message, params)])


def open_archive(stream: IO[bytes], limits: BulkLimits) -> Archive:
    """Opens the ZIP after checking its size, entry count, total uncompressed size and paths."""
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > limits.max_zip_bytes:
        raise _archive_error("zip_too_large", N_("The ZIP file is larger than %(size)s."), size=format_limit(size))
    try:
        archive = zipfile.ZipFile(stream)
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _archive_error("zip_invalid", N_("The ZIP file is damaged or is not a ZIP file.")) from None
    if len(entries) > limits.max_zip_entries:
        raise _archive_error(
            "zip_too_many_files", N_("The ZIP file holds more than %(max)d files."), max=limits.max_zip_entries
        )
    if sum(entry.file_size for entry in entries) > limits.max_uncompressed_bytes:
        raise _archive_error(
            "zip_too_large_uncompressed",
            N_("Uncompressed, the ZIP file is larger than %(size)s."),
            size=format_limit(limits.max_uncompressed_bytes),
        )
    by_name: dict[str, zipfile.ZipInfo] = {}
    by_basename: dict[str, zipfile.ZipInfo | None] = {}
    for entry in entries:
        name = unicodedata.normalize("NFC", entry.filename)
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise _archive_error("zip_unsafe_path", N_("The ZIP file holds an unsafe path: %(name)s."), name=name[:100])
        basename = parts[-1]
        # Folders, and what macOS adds (__MACOSX/, ._file.pdf), are not documents.
        if entry.is_dir() or parts[0] == "__MACOSX" or basename.startswith("._"):
            continue
        if not basename.lower().endswith(".pdf"):
            continue  # only PDFs are used; a row naming another file is reported
        by_name[name] = entry
        by_basename[basename] = None if basename in by_basename else entry
    return Archive(archive, by_name, by_basename)


def read_entry(archive: Archive, entry: zipfile.ZipInfo, max_bytes: int) -> bytes:
    if entry.flag_bits & 0x1:
        raise EntryUnreadable(N_("The file %(file)s is encrypted in the ZIP."))
    try:
        with archive.zip.open(entry) as handle:
            return handle.read(max_bytes + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        raise EntryUnreadable(N_("The file %(file)s cannot be read from the ZIP.")) from None


class EntryUnreadable(Exception):
    """A ZIP entry could not be read."""


@dataclass
class Documents:
    """What each distinct document (a ZIP entry, or the one PDF) turned out to be."""

    archive: Archive | None
    single: SinglePdf | None
    max_bytes: int
    allow_active_content: bool = False
    checked: dict[str, RowError | None] = dataclass_field(default_factory=dict)

    def check(self, row: int, name: str | None) -> tuple[str | None, RowError | None]:
        """The document's key for a row, or why the row's file is not usable."""
        if self.single is not None:
            key = self.single.filename
            if key not in self.checked:
                self.checked[key] = self._check_pdf(self.single.data, "document", {})
            return key, self._for_row(row, self.checked[key])
        if self.archive is None:
            raise ValueError("a batch has a ZIP file or one PDF")
        if not name or not name.strip():
            return None, RowError(row, "file", "missing_field", N_("The file name is required."))
        entry = self.archive.find(name)
        shown = name.strip()[:100]
        if entry is None:
            if not name.strip().lower().endswith(".pdf"):
                return None, RowError(row, "file", "not_pdf", N_("%(file)s is not a PDF file."), {"file": shown})
            return None, RowError(
                row, "file", "file_not_found", N_("%(file)s is not in the ZIP file."), {"file": shown}
            )
        key = entry.filename
        if key not in self.checked:
            try:
                data = read_entry(self.archive, entry, self.max_bytes)
            except EntryUnreadable as exc:
                self.checked[key] = RowError(0, "file", "file_unreadable", str(exc), {"file": shown})
            else:
                self.checked[key] = self._check_pdf(data, "file", {"file": shown})
        return key, self._for_row(row, self.checked[key])

    def _check_pdf(self, data: bytes, column: str, params: Mapping[str, Any]) -> RowError | None:
        try:
            check_pdf(data, self.max_bytes, allow_active_content=self.allow_active_content)
        except LetterError as exc:
            return RowError(0, column, exc.code, exc.message, params, exc)
        return None

    @staticmethod
    def _for_row(row: int, error: RowError | None) -> RowError | None:
        if error is None:
            return None
        return RowError(row, error.field, error.code, error.message, error.params, error.error)
