"""Every row of a bulk file checked with the single deposit's own validators, before anything is stored.

One bad row refuses the whole file, with every error found (up to `MAX_REPORTED_ERRORS`).
Two rows with the same mobile number and the same file are an error: sending one
document twice to one person is almost always a mistake in the spreadsheet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from webapp.config import Settings
from webapp.i18n import LANGUAGES
from webapp.letters.bulk.csvfile import read_csv
from webapp.letters.bulk.documents import Documents, SinglePdf, open_archive
from webapp.letters.bulk.errors import MAX_REPORTED_ERRORS, N_, BatchRejected, RowError
from webapp.letters.bulk.limits import LIMITS, BulkLimits
from webapp.letters.deposit import (
    clean_email,
    clean_name,
    clean_sender_reference,
    parse_mobile_number,
)
from webapp.letters.eid import IdentityRequirement, clean_requirement
from webapp.letters.errors import LetterError


@dataclass(frozen=True)
class ValidRow:
    row_number: int
    recipient_name: str
    recipient_phone: str
    recipient_email: str | None
    sender_reference: str | None
    language: str
    document_name: str
    identity: IdentityRequirement | None = None  # issue 19


def _cell(record: list[str], columns: Mapping[str, int], column: str) -> str:
    position = columns.get(column)
    return record[position] if position is not None and position < len(record) else ""


def _validate_row(
    row: int,
    record: list[str],
    columns: Mapping[str, int],
    language: str,
    documents: Documents,
    settings: Settings | None = None,
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
    identity = None
    if settings is not None and any(
        _cell(record, columns, column).strip()
        for column in ("identification", "expected_cin", "expected_name", "expected_birth_date")
    ):  # issue 19: as a single deposit checks it
        try:
            identity = clean_requirement(
                settings,
                _cell(record, columns, "identification"),
                cin=_cell(record, columns, "expected_cin"),
                name=_cell(record, columns, "expected_name"),
                birth_date=_cell(record, columns, "expected_birth_date"),
            )
        except LetterError as exc:
            errors.append(RowError(row, exc.field, exc.code, exc.message, {}, exc))
    document, document_error = documents.check(row, _cell(record, columns, "file"))
    if document_error is not None:
        errors.append(document_error)
    if errors or document is None:
        return None, errors
    return ValidRow(row, name, phone, email, reference, row_language, document, identity), []


def validate_bulk(
    csv_data: bytes,
    *,
    archive: IO[bytes] | None,
    single: SinglePdf | None,
    language: str,
    max_document_bytes: int,
    limits: BulkLimits | None = None,
    allow_active_content: bool = False,
    settings: Settings | None = None,
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
    documents = Documents(
        open_archive(archive, limits) if archive is not None else None,
        single,
        max_document_bytes,
        allow_active_content=allow_active_content,
    )
    rows: list[ValidRow] = []
    errors: list[RowError] = []
    first_row: dict[tuple[str, str], int] = {}
    for row_number, record in records:
        valid, row_errors = _validate_row(row_number, record, columns, language, documents, settings)
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
