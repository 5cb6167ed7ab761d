"""The request class of the app: hostile bodies end as 4xx answers, never as exceptions that escape.

Werkzeug answers an oversize body or a form past its limits with a 413 or 400, but the
JSON decoder raises `RecursionError` on a body nested a hundred thousand deep, which
`get_json(silent=True)` does not catch; and any code that reads the form while an error
page is rendered (the language selector does) would raise the 413 again.
"""

from __future__ import annotations

from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest, HTTPException

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class BodyNestedTooDeeply(BadRequest):
    """A JSON body nested deeper than the decoder can follow."""

    description = "The JSON body is nested too deeply."


class WassitRequest(Request):
    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            raise BodyNestedTooDeeply() from None

    def form_value_or_none(self, name: str) -> str | None:
        """A form field if the body is a form that can be read; None otherwise, never an error.

        For code that only glances at the form (the language chosen), and may run while the
        answer to an unreadable body is being rendered.
        """
        if self.mimetype not in FORM_TYPES:
            return None
        try:
            value = self.form.get(name)
        except (HTTPException, ValueError, RecursionError):
            return None
        return value
