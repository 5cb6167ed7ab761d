"""What a bulk upload may be: rows, sizes, and the zip-bomb guards checked before anything is decompressed."""

from __future__ import annotations

from dataclasses import dataclass


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
