"""Public trust endpoints: our trust anchor, the RFC 3161 authority, and proof verification.

Nothing here needs an account, and nothing here reveals a letter's content, nor its
document's name when the sender marked it confidential.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue

from webapp.extensions import csrf, db, limiter
from webapp.letters.queries import names_shown_publicly
from webapp.services import current_services
from webapp.trust.verify import check_evidence_id, check_proof_pdf

bp = Blueprint("trust", __name__)

MAX_TSA_REQUEST = 16 * 1024
MAX_PROOF_UPLOAD = 20 * 1024 * 1024


@bp.get("/trust/ca.pem")
def ca_certificate() -> ResponseReturnValue:
    """The root certificate our seals and timestamps chain to (contract)."""
    response = Response(current_services().trust.material.root_pem, mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = "inline; filename=wassit-root-ca.pem"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.post("/tsa")
@csrf.exempt
@limiter.limit("600/minute")
def timestamp_authority() -> ResponseReturnValue:
    """RFC 3161 over HTTP: application/timestamp-query in, application/timestamp-reply out."""
    authority = current_services().trust.authority
    if authority is None:
        abort(404)  # an external TSA is configured: we do not run one
    if request.mimetype != "application/timestamp-query":
        return Response("expected application/timestamp-query\n", status=415, mimetype="text/plain")
    if (request.content_length or 0) > MAX_TSA_REQUEST:
        abort(413)
    body = request.get_data(cache=False)[: MAX_TSA_REQUEST + 1]
    if len(body) > MAX_TSA_REQUEST:
        abort(413)
    return Response(authority.respond(body), mimetype="application/timestamp-reply")


@bp.get("/verify/<evidence_id>")
def verify_evidence(evidence_id: str) -> ResponseReturnValue:
    """The QR code's target: is this evidence record genuine, and what does it attest?"""
    if len(evidence_id) > 64:
        abort(404)
    check = check_evidence_id(db.session, current_services(), evidence_id)
    names_shown = names_shown_publicly(db.session, [check.record.get("letter_id")] if check else [])
    db.session.rollback()
    status = 200 if check is not None else 404
    page = render_template("verify/evidence.html", check=check, evidence_id=evidence_id, names_shown=names_shown)
    return page, status


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def verify_proof() -> ResponseReturnValue:
    """Anyone uploads a proof PDF and learns whether it is genuine."""
    if request.method == "GET":
        return render_template("verify/upload.html", check=None)
    upload = request.files.get("proof")
    if upload is None or not upload.filename:
        return render_template("verify/upload.html", check=None, error="missing"), 422
    data = upload.read(MAX_PROOF_UPLOAD + 1)
    if len(data) > MAX_PROOF_UPLOAD:
        abort(413)
    check = check_proof_pdf(db.session, current_services(), data)
    names_shown = names_shown_publicly(db.session, [record.record.get("letter_id") for record in check.records])
    db.session.rollback()
    return render_template("verify/upload.html", check=check, names_shown=names_shown), 200
