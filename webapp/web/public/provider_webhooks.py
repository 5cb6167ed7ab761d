"""Provider webhooks: signed delivery receipts from Vonage."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.extensions import csrf, db
from webapp.letters.receipts import record_delivery_receipt
from webapp.notify.sms.vonage_receipts import SignatureError, parse_delivery_report, verify_signature
from webapp.services import current_services

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)

MAX_FIELDS = 40
MAX_VALUE_LENGTH = 500


def _error(status: int, code: str, message: str) -> ResponseReturnValue:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _receipt_fields() -> dict[str, str] | None:
    """The receipt's fields, from a form, a query string or a JSON object; None if malformed."""
    fields: dict[str, str] = {}
    sources: list[Mapping[str, Any]] = [request.args, request.form]
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return None
        sources.append(body)
    for source in sources:
        for key in source:
            value = source[key]
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                return None
            fields[str(key)] = str(value)
    if len(fields) > MAX_FIELDS or any(len(k) > 100 or len(v) > MAX_VALUE_LENGTH for k, v in fields.items()):
        return None
    return fields


@bp.post("/vonage/dlr")
def vonage_delivery_receipt() -> ResponseReturnValue:
    """Records a signed Vonage delivery receipt; anything unsigned, forged or stale gets 401."""
    services = current_services()
    fields = _receipt_fields()
    if fields is None:
        return _error(400, "invalid_receipt", "The delivery receipt is not a flat set of fields.")
    settings = services.settings
    try:
        verify_signature(
            fields,
            secret=settings.vonage_signature_secret,
            now=services.clock.now(),
            max_age=settings.vonage_signature_max_age,
        )
    except SignatureError as exc:
        log.warning("refused a Vonage delivery receipt: %s", exc.reason)
        return _error(401, "invalid_signature", "The request is not signed by the SMS provider.")
    try:
        report = parse_delivery_report(fields)
    except ValueError:
        return _error(400, "invalid_receipt", "The delivery receipt names no message.")
    outcome = record_delivery_receipt(db.session, services, report)
    db.session.commit()
    response = jsonify(status=outcome.value)
    response.headers["Cache-Control"] = "no-store"
    return response
