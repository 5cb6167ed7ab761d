"""Bulk sending: a CSV of recipients with a ZIP of PDFs (or one PDF for every row).

Every row is checked with the single deposit's own validators before anything is
stored; one bad row refuses the whole file, with a report of every error (row,
column, message), and nothing is kept.  A valid file becomes a `Batch`: its rows,
and its PDFs encrypted by the vault, and its job (`deposit_batch_job`) deposits the rows,
a chunk per transaction.

The job is idempotent and resumable: each row's letter carries the idempotency key
`batch:<batch id>:<row>`, unique per organisation, and the row records its letter
in the transaction that deposits it.  A worker killed mid-way loses the current
chunk only; the next run skips every row already deposited.

Duplicates: two rows with the same mobile number and the same file are an error
(the second is reported): sending one document twice to one person is almost
always a mistake in the spreadsheet, and each letter is billed.

The package, by concern:

- `limits`: what an upload may be (rows, sizes, and the zip-bomb guards);
- `errors`: how its problems are reported (`RowError`, `BatchRejected`);
- `csvfile`: reading the CSV (UTF-8, `;` or `,`) and its columns, English or French;
- `documents`: the PDFs, one for every row or a ZIP of them, opened within the limits;
- `validation`: every row checked with the single deposit's validators, nothing stored;
- `batches`: creating the batch, and the deposit job that deposits it chunk by chunk,
  hands over to the next job when its time is up, and keeps the batch's progress.
"""

from __future__ import annotations

from webapp.letters.bulk.batches import (
    CHUNK_ROWS,
    JOB_SECONDS,
    BatchNotUnconfirmed,
    BatchSummary,
    batch_for_organisation,
    batch_letters_after,
    batch_letters_page,
    batch_summary,
    cancel_batch,
    confirm_batch,
    create_batch,
    deposit_batch,
    deposit_batch_job,
    deposit_job_id,
    organisation_batches,
    row_idempotency_key,
)
from webapp.letters.bulk.csvfile import COLUMNS, REQUIRED_COLUMNS, TEMPLATE_HEADER, csv_template, read_csv
from webapp.letters.bulk.documents import SinglePdf, open_archive
from webapp.letters.bulk.errors import MAX_REPORTED_ERRORS, BatchRejected, RowError
from webapp.letters.bulk.limits import LIMITS, BulkLimits
from webapp.letters.bulk.validation import ValidRow, validate_bulk

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "JOB_SECONDS",
    "LIMITS",
    "MAX_REPORTED_ERRORS",
    "REQUIRED_COLUMNS",
    "TEMPLATE_HEADER",
    "BatchNotUnconfirmed",
    "BatchRejected",
    "BatchSummary",
    "BulkLimits",
    "RowError",
    "SinglePdf",
    "ValidRow",
    "batch_for_organisation",
    "batch_letters_after",
    "batch_letters_page",
    "batch_summary",
    "cancel_batch",
    "confirm_batch",
    "create_batch",
    "csv_template",
    "deposit_batch",
    "deposit_batch_job",
    "deposit_job_id",
    "open_archive",
    "organisation_batches",
    "read_csv",
    "row_idempotency_key",
    "validate_bulk",
]
