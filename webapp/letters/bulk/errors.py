"""How a bulk file's problems are reported: every error found, by row and column, and nothing stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from webapp.letters.errors import LetterError

MAX_REPORTED_ERRORS = 1000  # a file with more is reported in part: the first ones are enough to fix it


def N_(message: str) -> str:
    """Marks a message for the catalogs; callers translate it with its parameters."""
    return message


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
