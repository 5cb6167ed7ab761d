"""Bulk sending: a CSV of recipients with a ZIP of PDFs (or one PDF for every row).

Every row is checked with the single deposit's own validators before anything is
stored; one bad row refuses the whole file, with a report of every error (row,
column, message), and nothing is kept.  A valid file becomes a `Batch`: its rows,
and its PDFs encrypted by the vault, and the `deposit_batch` job deposits the rows,
a chunk per transaction.

The job is idempotent and resumable: each row's letter carries the idempotency key
`batch:<batch id>:<row>`, unique per organisation, and the row records its letter
in the transaction that deposits it.  A worker killed mid-way loses the current
chunk only; the next run skips every row already deposited.

Duplicates: two rows with the same mobile number and the same file are an error
(the second is reported): sending one document twice to one person is almost
always a mistake in the spreadsheet, and each letter is billed.
"""

from __future__ import annotations

import csv
import io
import time
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import IO, Any

from rq.registry import StartedJobRegistry
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import DbSession
from webapp.i18n import LANGUAGES
from webapp.letters.deposit import (
    DepositRequest,
    check_pdf,
    clean_document_name,
    clean_email,
    clean_name,
    clean_sender_reference,
    deposit_letter,
    format_limit,
    parse_mobile_number,
)
from webapp.letters.errors import LetterError, OrganisationNotVerified
from webapp.models import Batch, BatchDocument, BatchRow, BatchStatus, Letter, User
from webapp.models.types import new_id
from webapp.queue import PendingJob, enqueue_after_commit, enqueue_now, get_queue
from webapp.services import Services
from webapp.vault import Sealed

DEPOSIT_JOB = "webapp.jobs.deposit_batch"
CHUNK_ROWS = 100  # rows deposited per transaction
JOB_SECONDS = 60.0  # then the job hands over to a new one: other jobs (notifications) are not held up


def N_(message: str) -> str:
    """Marks a message for the catalogs; callers translate it with its parameters."""
    return message


@dataclass(frozen=True)
class BulkLimits:
    max_rows: int = 10_000
    max_csv_bytes: int = 5 * 1024 * 1024
    max_zip_bytes: int = 200 * 1024 * 1024
    # Zip-bomb guards, checked on the archive's directory before anything is decompressed.
    max_zip_entries: int = 10_000
    max_uncompressed_bytes: int = 1024 * 1024 * 1024

    @property
    def max_upload_bytes(self) -> int:
        """A request's body: the CSV, the ZIP and the form around them."""
        return self.max_csv_bytes + self.max_zip_bytes + 1024 * 1024


LIMITS = BulkLimits()

# Column names, English and French (compared without case, accents, spaces or dashes).
COLUMNS: Mapping[str, frozenset[str]] = {
    "name": frozenset({"name", "nom", "recipient_name", "destinataire", "nom_destinataire"}),
    "mobile": frozenset({"mobile", "telephone", "phone", "tel", "portable", "recipient_phone", "gsm"}),
    "email": frozenset({"email", "e_mail", "courriel", "mail", "recipient_email"}),
    "reference": frozenset({"reference", "ref", "sender_reference", "votre_reference"}),
    "file": frozenset({"file", "fichier", "document", "file_name", "filename", "nom_fichier"}),
    "language": frozenset({"language", "langue", "lang"}),
}
REQUIRED_COLUMNS = ("name", "mobile")
TEMPLATE_HEADER = ("name", "mobile", "email", "reference", "file", "language")


@dataclass(frozen=True)
class RowError:
    """One problem of the file: its row (1 is the header; None for the whole file), column, and what is wrong.

    `message` is an English source string with `params`; `error` keeps the deposit's own
    exception when one of its validators refused the value, so callers translate it the same way.
    """

    row: int | None
    field: str | None
    code: str
    message: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)
    error: LetterError | None = None

    @property
    def text(self) -> str:
        """The message in English, parameters filled in."""
        return self.message % self.params if self.params else self.message


class BatchRejected(Exception):
    """The file has errors: nothing was stored; `errors` lists them all (up to a limit)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} error(s) in the bulk file")
        self.errors = errors


MAX_REPORTED_ERRORS = 1000  # a file with more is reported in part: the first ones are enough to fix it


@dataclass(frozen=True)
class SinglePdf:
    """One PDF sent to every row."""

    data: bytes
    filename: str


@dataclass(frozen=True)
class ValidRow:
    row_number: int
    recipient_name: str
    recipient_phone: str
    recipient_email: str | None
    sender_reference: str | None
    language: str
    document_name: str


def _normalise_header(raw: str) -> str:
    decomposed = unicodedata.normalize("NFKD", raw.strip().lstrip("\ufeff").lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "_".join(plain.replace("-", " ").replace("_", " ").split())


def _column_for(header: str) -> str | None:
    normalised = _normalise_header(header)
    return next((column for column, names in COLUMNS.items() if normalised in names), None)


def _decode_csv(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BatchRejected(
            [RowError(None, "csv", "csv_encoding", N_('The CSV file must be encoded in UTF-8 ("CSV UTF-8" in Excel).'))]
        ) from None


def _separator(first_line: str) -> str:
    """`;` as Excel writes CSV in French locales, else `,` (or a tab)."""
    counts = {sep: first_line.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_csv(data: bytes, limits: BulkLimits) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """The header's columns (our name → position) and the data rows (row number, cells); raises on a bad file."""
    if len(data) > limits.max_csv_bytes:
        raise BatchRejected(
            [
                RowError(
                    None,
                    "csv",
                    "csv_too_large",
                    N_("The CSV file is larger than %(size)s."),
                    {"size": format_limit(limits.max_csv_bytes)},
                )
            ]
        )
    text = _decode_csv(data)
    if "\x00" in text:
        raise BatchRejected([RowError(None, "csv", "csv_invalid", N_("This is not a CSV file."))])
    lines = iter(text.splitlines())
    first = next((line for line in lines if line.strip()), "")
    reader = csv.reader(io.StringIO(text), delimiter=_separator(first), strict=False)
    records: Iterator[list[str]] = iter(reader)
    try:
        header = next((record for record in records if any(cell.strip() for cell in record)), None)
        if header is None:
            raise BatchRejected([RowError(None, "csv", "csv_empty", N_("The CSV file is empty."))])
        columns, errors = _read_header(header)
        if errors:
            raise BatchRejected(errors)
        rows: list[tuple[int, list[str]]] = []
        for record in records:
            if not any(cell.strip() for cell in record):
                continue  # blank lines, as spreadsheets leave at the end
            rows.append((reader.line_num, record))
            if len(rows) > limits.max_rows:
                raise BatchRejected(
                    [
                        RowError(
                            None,
                            "csv",
                            "too_many_rows",
                            N_("The CSV file has more than %(max)d rows: split it into several files."),
                            {"max": limits.max_rows},
                        )
                    ]
                )
    except csv.Error:
        raise BatchRejected([RowError(None, "csv", "csv_invalid", N_("This is not a CSV file."))]) from None
    if not rows:
        raise BatchRejected([RowError(None, "csv", "csv_empty", N_("The CSV file has no row under its header."))])
    return columns, rows


def _read_header(header: list[str]) -> tuple[dict[str, int], list[RowError]]:
    columns: dict[str, int] = {}
    errors: list[RowError] = []
    for position, raw in enumerate(header):
        if not raw.strip():
            continue
        column = _column_for(raw)
        if column is None:
            errors.append(
                RowError(1, raw.strip()[:50], "unknown_column", N_("Unknown column %(column)s."), {"column": raw[:50]})
            )
        elif column in columns:
            errors.append(
                RowError(1, column, "duplicate_column", N_("The column %(column)s appears twice."), {"column": column})
            )
        else:
            columns[column] = position
    errors.extend(
        RowError(1, column, "missing_column", N_("The column %(column)s is missing."), {"column": column})
        for column in REQUIRED_COLUMNS
        if column not in columns
    )
    return columns, errors


@dataclass
class _Archive:
    """The ZIP's PDF entries, by full name and by file name alone (when unique)."""

    zip: zipfile.ZipFile
    by_name: dict[str, zipfile.ZipInfo]
    by_basename: dict[str, zipfile.ZipInfo | None]

    def find(self, name: str) -> zipfile.ZipInfo | None:
        key = unicodedata.normalize("NFC", name.strip().replace("\\", "/"))
        return self.by_name.get(key) or self.by_basename.get(key.rsplit("/", 1)[-1])


def _archive_error(code: str, message: str, **params: Any) -> BatchRejected:
    return BatchRejected([RowError(None, "zip", code, message, params)])


def open_archive(stream: IO[bytes], limits: BulkLimits) -> _Archive:
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
    return _Archive(archive, by_name, by_basename)


def _read_entry(archive: _Archive, entry: zipfile.ZipInfo, max_bytes: int) -> bytes:
    if entry.flag_bits & 0x1:
        raise _EntryUnreadable(N_("The file %(file)s is encrypted in the ZIP."))
    try:
        with archive.zip.open(entry) as handle:
            return handle.read(max_bytes + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        raise _EntryUnreadable(N_("The file %(file)s cannot be read from the ZIP.")) from None


class _EntryUnreadable(Exception):
    """A ZIP entry could not be read."""


@dataclass
class _Documents:
    """What each distinct document (a ZIP entry, or the one PDF) turned out to be."""

    archive: _Archive | None
    single: SinglePdf | None
    max_bytes: int
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
                data = _read_entry(self.archive, entry, self.max_bytes)
            except _EntryUnreadable as exc:
                self.checked[key] = RowError(0, "file", "file_unreadable", str(exc), {"file": shown})
            else:
                self.checked[key] = self._check_pdf(data, "file", {"file": shown})
        return key, self._for_row(row, self.checked[key])

    def _check_pdf(self, data: bytes, column: str, params: Mapping[str, Any]) -> RowError | None:
        try:
            check_pdf(data, self.max_bytes)
        except LetterError as exc:
            return RowError(0, column, exc.code, exc.message, params, exc)
        return None

    @staticmethod
    def _for_row(row: int, error: RowError | None) -> RowError | None:
        if error is None:
            return None
        return RowError(row, error.field, error.code, error.message, error.params, error.error)


def _cell(record: list[str], columns: Mapping[str, int], column: str) -> str:
    position = columns.get(column)
    return record[position] if position is not None and position < len(record) else ""


def _validate_row(
    row: int, record: list[str], columns: Mapping[str, int], language: str, documents: _Documents
) -> tuple[ValidRow | None, list[RowError]]:
    errors: list[RowError] = []
    if len(record) > max(columns.values()) + 1 and any(cell.strip() for cell in record[max(columns.values()) + 1 :]):
        errors.append(RowError(row, None, "too_many_cells", N_("This row has more cells than the header.")))

    def clean(column: str, validator: Any) -> Any:
        try:
            return validator(_cell(record, columns, column))
        except LetterError as exc:
            errors.append(RowError(row, column, exc.code, exc.message, {}, exc))
            return None

    name = clean("name", clean_name)
    phone = clean("mobile", parse_mobile_number)
    email = clean("email", clean_email)
    reference = clean("reference", clean_sender_reference)
    row_language = _cell(record, columns, "language").strip().lower() or language
    if row_language not in LANGUAGES:
        errors.append(RowError(row, "language", "invalid_language", N_("The language must be one of fr, ar, en.")))
    document, document_error = documents.check(row, _cell(record, columns, "file"))
    if document_error is not None:
        errors.append(document_error)
    if errors or document is None:
        return None, errors
    return ValidRow(row, name, phone, email, reference, row_language, document), []


def validate_bulk(
    csv_data: bytes,
    *,
    archive: IO[bytes] | None,
    single: SinglePdf | None,
    language: str,
    max_document_bytes: int,
    limits: BulkLimits | None = None,
) -> list[ValidRow]:
    """Every row checked, or `BatchRejected` with every error found; stores nothing."""
    limits = limits or LIMITS
    if (archive is None) == (single is None):
        message = N_("Add either a ZIP file of PDFs or one PDF for every row (not both).")
        raise BatchRejected([RowError(None, "zip", "missing_field", message)])
    if language not in LANGUAGES:
        raise BatchRejected(
            [RowError(None, "language", "invalid_language", N_("The language must be one of fr, ar, en."))]
        )
    columns, records = read_csv(csv_data, limits)
    if archive is not None and "file" not in columns:
        raise BatchRejected(
            [RowError(1, "file", "missing_column", N_("The column %(column)s is missing."), {"column": "file"})]
        )
    documents = _Documents(open_archive(archive, limits) if archive is not None else None, single, max_document_bytes)
    rows: list[ValidRow] = []
    errors: list[RowError] = []
    first_row: dict[tuple[str, str], int] = {}
    for row_number, record in records:
        valid, row_errors = _validate_row(row_number, record, columns, language, documents)
        errors.extend(row_errors)
        if valid is not None:
            key = (valid.recipient_phone, valid.document_name)
            if key in first_row:
                errors.append(
                    RowError(
                        row_number,
                        "mobile",
                        "duplicate_row",
                        N_("Same mobile number and same file as row %(row)d."),
                        {"row": first_row[key]},
                    )
                )
            else:
                first_row[key] = row_number
                rows.append(valid)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise BatchRejected(errors[:MAX_REPORTED_ERRORS])
    return rows


def create_batch(
    session: DbSession,
    services: Services,
    sender: User,
    csv_data: bytes,
    *,
    csv_name: str,
    archive: IO[bytes] | None = None,
    single: SinglePdf | None = None,
    language: str | None = None,
    limits: BulkLimits | None = None,
    document_confidential: bool = False,
) -> Batch:
    """Validates the whole file, then stores the batch (rows, PDFs encrypted) and queues its deposit.

    Raises `OrganisationNotVerified` or `BatchRejected`, having added nothing to the session.
    The caller commits; the job starts after the commit.
    """
    if sender.organisation.verified_at is None:
        raise OrganisationNotVerified()
    chosen = (language or services.settings.default_language).strip().lower()
    rows = validate_bulk(
        csv_data,
        archive=archive,
        single=single,
        language=chosen,
        max_document_bytes=services.settings.max_document_bytes,
        limits=limits,
    )
    batch = Batch(
        organisation_id=sender.organisation_id,
        user_id=sender.id,
        status=BatchStatus.READY,
        csv_name=clean_document_name(csv_name)[:255],
        language=chosen,
        document_confidential=document_confidential,
        total_rows=len(rows),
        deposited_rows=0,
        created_at=services.clock.now(),
    )
    session.add(batch)
    session.flush()
    _store_documents(session, services, batch, {row.document_name for row in rows}, archive, single, limits or LIMITS)
    session.execute(
        insert(BatchRow),
        [
            {
                "batch_id": batch.id,
                "row_number": row.row_number,
                "recipient_name": row.recipient_name,
                "recipient_phone": row.recipient_phone,
                "recipient_email": row.recipient_email,
                "sender_reference": row.sender_reference,
                "language": row.language,
                "document_name": row.document_name,
            }
            for row in rows
        ],
    )
    enqueue_after_commit(session, DEPOSIT_JOB, batch.id, job_id=deposit_job_id(batch.id, 0))
    return batch


def _store_documents(
    session: DbSession,
    services: Services,
    batch: Batch,
    names: set[str],
    archive: IO[bytes] | None,
    single: SinglePdf | None,
    limits: BulkLimits,
) -> None:
    """Each distinct PDF once, encrypted with its own data key, read again from the ZIP (checked already)."""
    opened = open_archive(archive, limits) if archive is not None else None
    max_bytes = services.settings.max_document_bytes
    for name in sorted(names):
        if opened is not None:
            data = _read_entry(opened, opened.by_name[name], max_bytes)
        elif single is not None:
            data = single.data
        else:
            raise ValueError("a batch has a ZIP file or one PDF")
        document_id = new_id()  # known before the flush: the ciphertext is bound to it
        sealed = services.vault.encrypt(data, context=f"batch-document:{document_id}")
        document = BatchDocument(
            id=document_id,
            batch_id=batch.id,
            name=name,
            key_id=sealed.key_id,
            wrapped_key=sealed.wrapped_key,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        )
        session.add(document)
        session.flush()
        session.expunge(document)  # the ciphertexts of a large ZIP are not all kept in memory


def deposit_job_id(batch_id: str, deposited: int) -> str:
    """One job id per batch and progress: a run that hands over queues the next one, never a twin."""
    return f"batch-{batch_id}-{deposited}"


def requeue_batches(session: DbSession) -> int:
    """The scheduler's sweep: queues again the deposit of batches left unfinished with no job at work
    (Redis down when the upload or a hand-over committed, a worker killed).  A run is safe twice, but a
    batch whose job is queued, scheduled or running is left alone."""
    batches = session.execute(
        select(Batch.id, Batch.deposited_rows).where(Batch.status.in_((BatchStatus.READY, BatchStatus.DEPOSITING)))
    ).all()
    session.commit()
    if not batches:
        return 0
    queue = get_queue()
    running = set(StartedJobRegistry(queue=queue).get_job_ids())
    queued = 0
    for batch_id, deposited in batches:
        if any(job_id.startswith(f"batch-{batch_id}-") for job_id in running):
            continue  # a run that has moved on since its id was made is still at work
        job = PendingJob(DEPOSIT_JOB, (batch_id,), deposit_job_id(batch_id, deposited), True)
        queued += enqueue_now(job, queue)
    return queued


def row_idempotency_key(batch_id: str, row_number: int) -> str:
    return f"batch:{batch_id}:{row_number}"


def _documents_for(session: DbSession, services: Services, batch_id: str, names: set[str]) -> dict[str, bytes]:
    stored = session.execute(
        select(BatchDocument).where(BatchDocument.batch_id == batch_id, BatchDocument.name.in_(names))
    ).scalars()
    return {
        document.name: services.vault.decrypt(
            Sealed(document.key_id, document.wrapped_key, document.nonce, document.ciphertext),
            context=f"batch-document:{document.id}",
        )
        for document in stored
    }


def _deposit_chunk(session: DbSession, services: Services, batch: Batch, sender: User, rows: list[BatchRow]) -> None:
    """Deposits the rows that have no letter yet; a row whose key already made a letter just records it."""
    keys = {row_idempotency_key(batch.id, row.row_number): row for row in rows}
    existing = dict(
        session.execute(
            select(Letter.idempotency_key, Letter.id).where(
                Letter.organisation_id == batch.organisation_id, Letter.idempotency_key.in_(keys)
            )
        ).all()
    )
    documents = _documents_for(session, services, batch.id, {row.document_name for row in rows})
    for key, row in keys.items():
        if key in existing:
            row.letter_id = existing[key]
            continue
        letter = deposit_letter(
            session,
            services,
            sender,
            DepositRequest(
                document=documents[row.document_name],
                document_name=row.document_name,
                recipient_phone=row.recipient_phone,
                recipient_name=row.recipient_name,
                recipient_email=row.recipient_email,
                channel="email" if row.recipient_email else "sms",
                language=row.language,
                sender_reference=row.sender_reference,
                idempotency_key=key,
                batch_id=batch.id,
                document_confidential=batch.document_confidential,
            ),
        )
        row.letter_id = letter.id


def _pending_rows(session: DbSession, batch_id: str, limit: int) -> list[BatchRow]:
    return list(
        session.execute(
            select(BatchRow)
            .where(BatchRow.batch_id == batch_id, BatchRow.letter_id.is_(None))
            .order_by(BatchRow.row_number)
            .limit(limit)
        ).scalars()
    )


def _count_deposited(session: DbSession, batch_id: str) -> int:
    return session.execute(
        select(func.count()).where(BatchRow.batch_id == batch_id, BatchRow.letter_id.is_not(None))
    ).scalar_one()


def deposit_batch(
    session: DbSession,
    services: Services,
    batch_id: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
    seconds: float | None = JOB_SECONDS,
) -> BatchStatus | None:
    """Deposits the batch's remaining rows, a chunk per transaction, for at most `seconds` (None: to the end).

    Out of time, it queues its continuation in the last chunk's transaction.  Done, it deletes the
    uploaded PDFs (every letter keeps its own encrypted copy).  Safe to run twice, or after a crash.
    """
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    if batch.status in {BatchStatus.DONE, BatchStatus.FAILED}:
        return batch.status
    if batch.status is BatchStatus.READY:
        batch.status = BatchStatus.DEPOSITING
        batch.started_at = services.clock.now()
        session.commit()
    deadline = None if seconds is None else time.monotonic() + seconds
    conflicts = 0
    while True:
        sender = session.get_one(User, batch.user_id)
        rows = _pending_rows(session, batch_id, chunk_rows)
        if not rows:
            break
        try:
            _deposit_chunk(session, services, batch, sender, rows)
            session.flush()
        except IntegrityError:
            # Another run deposited one of these rows meanwhile: start the chunk again, it records that letter.
            session.rollback()
            conflicts += 1
            if conflicts > 3:
                raise
            continue
        except LetterError as exc:
            # The rows were valid at upload; what changed since (the organisation's verification) stops the batch.
            session.rollback()
            return _fail(session, services, batch_id, exc)
        batch.deposited_rows = _count_deposited(session, batch_id)
        more = len(rows) == chunk_rows
        if more and deadline is not None and time.monotonic() > deadline:
            enqueue_after_commit(session, DEPOSIT_JOB, batch_id, job_id=deposit_job_id(batch_id, batch.deposited_rows))
            session.commit()
            return batch.status
        session.commit()
        if not more:
            break
    batch.status = BatchStatus.DONE
    batch.deposited_rows = _count_deposited(session, batch_id)
    batch.finished_at = services.clock.now()
    session.execute(delete(BatchDocument).where(BatchDocument.batch_id == batch_id))
    session.commit()
    return BatchStatus.DONE


def _fail(session: DbSession, services: Services, batch_id: str, exc: LetterError) -> BatchStatus:
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(
            status=BatchStatus.FAILED,
            error=exc.code[:200],
            finished_at=services.clock.now(),
            deposited_rows=_count_deposited(session, batch_id),
        )
    )
    session.execute(delete(BatchDocument).where(BatchDocument.batch_id == batch_id))
    session.commit()
    return BatchStatus.FAILED


def batch_for_organisation(session: DbSession, organisation_id: str, batch_id: str) -> Batch | None:
    """The batch if it belongs to the organisation (callers answer 404 otherwise)."""
    return session.execute(
        select(Batch).where(Batch.id == batch_id, Batch.organisation_id == organisation_id)
    ).scalar_one_or_none()


def csv_template() -> str:
    """A CSV to fill in: the header and one example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerow(("Youssef Alami", "0612345678", "", "DOSSIER-2026-0042", "mise-en-demeure.pdf", "fr"))
    return buffer.getvalue()
