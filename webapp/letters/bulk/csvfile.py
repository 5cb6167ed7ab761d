"""Reading the CSV: UTF-8 (with or without BOM), `;` as Excel writes it in French or `,`, columns named in
English or French; and the template to fill in."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator, Mapping

from webapp.letters.bulk.errors import N_, BatchRejected, RowError
from webapp.letters.bulk.limits import BulkLimits
from webapp.letters.deposit import format_limit

# Column names, English and French (compared without case, accents, spaces or dashes).
COLUMNS: Mapping[str, frozenset[str]] = {
    "name": frozenset({"name", "nom", "recipient_name", "destinataire", "nom_destinataire"}),
    "mobile": frozenset({"mobile", "telephone", "phone", "tel", "portable", "recipient_phone", "gsm"}),
    "email": frozenset({"email", "e_mail", "courriel", "mail", "recipient_email"}),
    "reference": frozenset({"reference", "ref", "sender_reference", "votre_reference"}),
    "file": frozenset({"file", "fichier", "document", "file_name", "filename", "nom_fichier"}),
    "language": frozenset({"language", "langue", "lang"}),
    # Issue 19: the identification each letter requires, and the identity expected.
    "identification": frozenset({"identification", "methode_identification", "identification_method"}),
    "expected_cin": frozenset({"expected_cin", "cin", "cin_attendu", "cnie"}),
    "expected_name": frozenset({"expected_name", "nom_attendu", "identite_attendue"}),
    "expected_birth_date": frozenset(
        {"expected_birth_date", "date_de_naissance", "date_naissance", "date_naissance_attendue", "birth_date"}
    ),
}
REQUIRED_COLUMNS = ("name", "mobile")
TEMPLATE_HEADER = ("name", "mobile", "email", "reference", "file", "language")


def _normalise_header(raw: str) -> str:
    decomposed = unicodedata.normalize("NFKD", raw.strip().lstrip("\ufeff").lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "_".join(plain.replace("-", " ").replace("_", " ").split())


def _column_for(header: str) -> str | None:
    normalised = _normalise_header(header)
    return next((column for column, names in COLUMNS.items() if normalised in names), None)


# Control characters a text file does not hold: what tells a binary file from Windows-1252 text.
_NOT_TEXT = frozenset(chr(code) for code in range(32) if chr(code) not in "\t\r\n")


def detect_csv_encoding(data: bytes) -> str:
    """The encoding a spreadsheet saved the file in: UTF-8 (with or without its BOM), UTF-16 with its
    BOM ("Unicode text" in Excel), else Windows-1252 (Excel's "CSV" on a French or Moroccan Windows);
    raises BatchRejected for what is no text at all."""
    candidates = ["utf-16"] if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ["utf-8-sig", "cp1252"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # Valid UTF-8 is text: a stray control character in it is one field's problem, refused by the row's
        # checks beside its column (`control_characters`).  Windows-1252 decodes nearly any bytes, so there
        # controls are what tell a binary file; NUL tells one in any encoding.
        if "\x00" not in text and (encoding == "utf-8-sig" or not _NOT_TEXT.intersection(text)):
            return encoding
    raise BatchRejected(
        [
            RowError(
                None,
                "csv",
                "csv_encoding",
                N_("The CSV file cannot be read as text: save it from your spreadsheet as CSV (UTF-8 or Windows)."),
            )
        ]
    )


def _decode_csv(data: bytes) -> str:
    return data.decode(detect_csv_encoding(data)).removeprefix("\ufeff")


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


def csv_template() -> str:
    """A CSV to fill in: the header and one example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerow(("Youssef Alami", "0612345678", "", "DOSSIER-2026-0042", "mise-en-demeure.pdf", "fr"))
    return buffer.getvalue()
