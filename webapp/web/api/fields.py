"""The marshmallow fields of the API's payloads: each one validates an input with our error codes,
or renders a domain value, and tells apispec how to document itself.

A field that refuses an input raises a *problem*, `{"code", "message"}`, where `{field}` in the
message stands for the input's name; `webapp.web.api.common` answers the first problem of a
request as `{"error": {"code", "message", "field"}}` (422).  Fields hold the same rules, codes and
messages the API always had: a blank form field is an absent one, an over-long text is
`invalid_input`, a missing required field is `missing_field`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, cast

import marshmallow as ma
from marshmallow import ValidationError, fields, missing
from werkzeug.datastructures import FileStorage

from webapp.textinput import control_character, single_line_message
from webapp.trust.evidence import isoformat_utc

Problem = Mapping[str, str]
F = TypeVar("F", bound="fields.Field[Any]")
E = TypeVar("E", bound=StrEnum)


def problem(code: str, message: str) -> Problem:
    """A refused input as the API reports it; `{field}` in `message` is replaced by the input's name."""
    return {"code": code, "message": message}


REQUIRED = problem("missing_field", "The field '{field}' is required.")
TOO_LONG = problem("invalid_input", "The field '{field}' is too long.")
NOT_TEXT = problem("invalid_input", "The field '{field}' must be text.")
NOT_A_FLAG = problem("invalid_input", "The field '{field}' must be true or false.")
NOT_OURS = problem("invalid_cursor", "This cursor is not one we gave; start from the first page.")


def refuse(found: Problem) -> ValidationError:
    # marshmallow keeps a dict message as it is: the problem reaches the error handler intact.
    return ValidationError(dict(found))


class _Refuses(fields.Field[Any]):
    """A field whose failures are problems: `problems` maps marshmallow's error keys (`required`,
    `null`, `invalid`) and our own (`too_long`) to the problem answered."""

    default_problems: ClassVar[Mapping[str, Problem]] = {"required": REQUIRED, "null": REQUIRED, "invalid": NOT_TEXT}

    def __init__(self, *, problems: Mapping[str, Problem] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = {**self.default_problems, **(problems or {})}

    def make_error(self, key: str, **kwargs: Any) -> ValidationError:
        if key in self.problems:
            return refuse(self.problems[key])
        return super().make_error(key, **kwargs)


class Text(_Refuses, fields.String):
    """A text input.

    `blank`: what a value of only spaces means: `"absent"` (the usual form field), `"empty"` (only
    the empty string is absent), or `"text"`. `strip`: `"before"` checks and returns the stripped
    text, `"after"` checks the text as sent and returns it stripped, `None` returns it as sent.
    `pattern` must match the whole text (else the `invalid` problem).  Every text of the API is on
    one line: a line break or a control character is refused (`control_characters`, naming the field),
    by the rule of `webapp.textinput`."""

    default_problems: ClassVar[Mapping[str, Problem]] = {**_Refuses.default_problems, "too_long": TOO_LONG}

    def __init__(
        self,
        *,
        max_length: int | None = None,
        blank: str = "absent",
        strip: str | None = None,
        pattern: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        documented = dict(metadata or {})
        if max_length is not None:
            documented.setdefault("maxLength", max_length)
        if pattern is not None:
            documented.setdefault("pattern", f"^{pattern}$")
        super().__init__(metadata=documented, **kwargs)
        self.max_length, self.blank, self.strip = max_length, blank, strip
        self.pattern = re.compile(pattern) if pattern is not None else None

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if isinstance(value, str) and (
            (self.blank == "absent" and not value.strip()) or (self.blank == "empty" and value == "")
        ):
            value = missing
        return super().deserialize(value, attr, data, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        found = control_character(value)
        if found is not None and self.pattern is None:  # a field with its own pattern keeps its own error
            raise refuse(problem("control_characters", single_line_message("{field}", found)))
        checked = value.strip() if self.strip == "before" else value
        if self.max_length is not None and len(checked) > self.max_length:
            raise self.make_error("too_long")
        if self.pattern is not None and not self.pattern.fullmatch(checked):
            raise self.make_error("invalid")
        return value.strip() if self.strip in ("before", "after") else value


class FormFlag(_Refuses):
    """`true` or `false` in a form (any case, spaces around); absent or blank is false."""

    default_problems: ClassVar[Mapping[str, Problem]] = {
        **_Refuses.default_problems,
        "invalid": NOT_A_FLAG,
        "too_long": TOO_LONG,
    }
    MAX_LENGTH = 5

    def __init__(self, *, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        documented = {"type": "string", "enum": ["true", "false"], "default": "false", **(metadata or {})}
        super().__init__(load_default=False, metadata=documented, **kwargs)

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            value = missing
        return super().deserialize(value, attr, data, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if len(value) > self.MAX_LENGTH:
            raise self.make_error("too_long")
        word = value.strip().lower()
        if word not in ("true", "false"):
            raise self.make_error("invalid")
        return word == "true"


class JsonFlag(_Refuses, fields.Boolean):
    """A JSON `true` or `false` (nothing else: not "yes", not 1); null is absent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class PageLimit(_Refuses, fields.Integer):
    """How many items a page holds: digits only, from 1 to `maximum`; absent or empty is `default`."""

    def __init__(self, *, default: int, maximum: int, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        limit = problem("invalid_input", f"'{{field}}' must be a whole number from 1 to {maximum}.")
        super().__init__(
            load_default=default,
            problems={"invalid": limit},
            metadata={"minimum": 1, "maximum": maximum, **(metadata or {})},
            **kwargs,
        )
        self.maximum = maximum

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return super().deserialize(missing if value == "" else value, attr, data, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if not isinstance(value, str) or not value.isdigit() or not 1 <= int(value) <= self.maximum:
            raise self.make_error("invalid")
        return int(value)


class EnumList(_Refuses):
    """Values of `enum` separated by commas (spaces and empty parts ignored); absent or blank is none."""

    def __init__(self, enum: type[E], *, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        allowed = ", ".join(member.value for member in enum)
        wrong = problem("invalid_input", f"'{{field}}' must be one or more of {allowed}.")
        super().__init__(problems={"invalid": wrong}, metadata={"type": "string", **(metadata or {})}, **kwargs)
        self.enum = enum

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            value = missing
        return super().deserialize(value, attr, data, **kw)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> tuple[Any, ...]:
        try:
            return tuple(self.enum(part.strip()) for part in str(value).split(",") if part.strip())
        except ValueError:
            raise self.make_error("invalid") from None


class EnumValue(_Refuses, fields.String):
    """One value of `enum` (spaces around ignored); absent or blank is none."""

    def __init__(self, enum: type[E], *, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        allowed = ", ".join(member.value for member in enum)
        wrong = problem("invalid_input", f"'{{field}}' must be one of {allowed}.")
        documented = {"enum": [member.value for member in enum], **(metadata or {})}
        super().__init__(problems={"invalid": wrong}, metadata=documented, **kwargs)
        self.enum = enum

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            value = missing
        return super().deserialize(value, attr, data, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        try:
            return self.enum(str(value).strip())
        except ValueError:
            raise self.make_error("invalid") from None


class Moment(_Refuses, fields.DateTime):
    """A time: read as ISO 8601 (without a zone, UTC), written in UTC as our records write it."""

    def __init__(self, **kwargs: Any) -> None:
        wrong = problem("invalid_input", "'{field}' must be an ISO 8601 date or time.")
        super().__init__(problems={"invalid": wrong}, **kwargs)

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            value = missing
        return super().deserialize(value, attr, data, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise self.make_error("invalid") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return isoformat_utc(value) if value is not None else None


def position_cursor(at: datetime, item_id: str) -> str:
    """The cursor of the page after the item at this position (newest first: its time, then id)."""
    raw = json.dumps([at.astimezone(UTC).isoformat(), item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class PositionCursor(_Refuses):
    """A `position_cursor` we gave, read back as (time, id); absent or empty is the first page."""

    default_problems: ClassVar[Mapping[str, Problem]] = {**_Refuses.default_problems, "invalid": NOT_OURS}

    def __init__(self, *, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(metadata={"type": "string", **(metadata or {})}, **kwargs)

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return super().deserialize(missing if value == "" else value, attr, data, **kw)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> tuple[datetime, str]:
        try:
            cursor = str(value)
            at, item_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None or not isinstance(item_id, str):
                raise ValueError(cursor)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise self.make_error("invalid") from None
        return moment, item_id


class RowCursor(_Refuses):
    """The CSV line after which the next page starts (`0`, absent or empty: the first page)."""

    default_problems: ClassVar[Mapping[str, Problem]] = {**_Refuses.default_problems, "invalid": NOT_OURS}
    PATTERN = re.compile(r"[0-9]{1,6}")

    def __init__(self, *, metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        documented = {"type": "string", "pattern": f"^{self.PATTERN.pattern}$", **(metadata or {})}
        super().__init__(metadata=documented, **kwargs)

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return super().deserialize(missing if value == "" else value, attr, data, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if not isinstance(value, str) or not value.isdigit() or len(value) > 6:
            raise self.make_error("invalid")
        return int(value)


class File(_Refuses):
    """An uploaded file of a multipart body (a part with a file name), documented as `media_type`.

    Loads as the `FileStorage`; a part without a file name is absent."""

    def __init__(self, media_type: str, *, what: str, **kwargs: Any) -> None:
        required = problem("missing_field", f"The field '{{field}}' ({what}) is required.")
        super().__init__(problems={"required": required, "null": required, "invalid": required}, **kwargs)
        self.media_type = media_type

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if isinstance(value, FileStorage) and not value.filename:
            value = missing
        return super().deserialize(value, attr, data, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if not isinstance(value, FileStorage):
            raise self.make_error("invalid")
        return self.read(value)

    def read(self, upload: FileStorage) -> Any:
        """What the schema gets: the upload itself (subclasses read it)."""
        return upload


def file2properties(converter: Any, field: fields.Field[Any], **kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: a `File` is a string of its media type (OpenAPI 3.1)."""
    if isinstance(field, File):
        return {"type": "string", "contentMediaType": field.media_type}
    return {}


def const2properties(converter: Any, field: fields.Field[Any], **kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: `const` in a field's metadata (JSON Schema 2020-12, which apispec
    does not copy)."""
    return {"const": field.metadata["const"]} if "const" in field.metadata else {}


# The key under which a schema's `get_attribute` gives the object its fields read from.
ITSELF = "__itself__"


def derived(field: type[F], getter: Callable[[Any], Any], *args: Any, **kwargs: Any) -> F:
    """A `field` whose value is `getter(obj)`, for keys a domain value has no attribute of;
    `marshmallow.missing` from the getter leaves the key out of the answer."""

    def get_value(self: fields.Field[Any], obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return getter(accessor(obj, ITSELF, default) if accessor is not None else obj)

    derived_class = type(f"Derived{field.__name__}", (field,), {"get_value": get_value})
    return cast(F, derived_class(*args, **kwargs))


def itself(value: Any) -> Any:
    """For a nested object whose fields are attributes of its parent."""
    return value


class Payload(ma.Schema):
    """A payload written inline in the document; unknown input fields are ignored, as always.

    A schema that renders a pair (a letter and its CSV line, an endpoint and its new secret)
    overrides `get_attribute` to read its own keys from the pair and the rest from the value."""

    class Meta:
        unknown = ma.EXCLUDE

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        return obj if attr == ITSELF else super().get_attribute(obj, attr, default)


class Component(Payload):
    """A payload named in the document's `components.schemas` (its class name without `Schema`)."""


def component_name(schema: Any) -> str | None:
    """apispec's schema name resolver: components are named, every other payload is inline."""
    schema_class = schema if isinstance(schema, type) else type(schema)
    if isinstance(schema_class, type) and issubclass(schema_class, Component):
        return schema_class.__name__.removesuffix("Schema")
    return None
