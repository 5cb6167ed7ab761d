"""Public trust endpoints: our trust anchor and CRL, the RFC 3161 authority, our policy, and proof verification.

Nothing here needs an account, and nothing here reveals a letter's content, nor its
document's name when the sender marked it confidential.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue

from webapp.extensions import csrf, db, limiter
from webapp.letters.queries import names_shown_publicly
from webapp.services import current_services
from webapp.trust.verify import check_evidence_id, check_proof_pdf

bp = Blueprint("trust", __name__)

MAX_TSA_REQUEST = 16 * 1024
MAX_PROOF_UPLOAD = 20 * 1024 * 1024
# Caches may keep a CRL until this long before its nextUpdate (a validator then fetches the next one).
CRL_CACHE_MARGIN = timedelta(hours=1)


@bp.get("/trust/ca.pem")
def ca_certificate() -> ResponseReturnValue:
    """The root certificate our seals and timestamps chain to (contract)."""
    response = Response(current_services().trust.material.root_pem, mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = "inline; filename=wassit-root-ca.pem"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/trust/crl")
@bp.get("/trust/crl/<int:generation>")
def certificate_revocation_list(generation: int | None = None) -> ResponseReturnValue:
    """The local root CA's CRL, DER (contract): of the current seal and TSA certificates, or of
    generation `generation` (what the certificates of that generation name)."""
    services = current_services()
    crl = services.trust.crl(generation)
    if crl is None:
        abort(404)  # a configured seal (its CA publishes the revocation information), or no such generation
    now = services.clock.now()
    response = Response(crl.der, mimetype="application/pkix-crl")
    response.headers["Content-Disposition"] = "inline; filename=wassit-root-ca.crl"
    fresh_for = max(0, int((crl.next_update - CRL_CACHE_MARGIN - now).total_seconds()))
    response.headers["Cache-Control"] = f"public, max-age={fresh_for}"
    response.expires = now + timedelta(seconds=fresh_for)
    response.last_modified = crl.this_update
    response.set_etag(hashlib.sha256(crl.der).hexdigest())
    return response.make_conditional(request)


@bp.get("/trust/policy")
def policy() -> ResponseReturnValue:
    """What our timestamps and seals promise, and what they do not (no claim of qualification)."""
    services = current_services()
    settings = services.settings
    return render_template(
        "public/policy.html",
        disclosure=services.trust.disclosure,
        policy_oid=settings.tsa_policy_oid,
        public_tsa_url=f"{settings.public_url}/tsa",
        external_tsa=settings.tsa_url is not None,
        builtin_tsa=services.trust.authority is not None,
        retention_years=settings.proof_retention_years,
        renewal_margin_days=settings.archive_renewal_margin_days,
        publishes_crl=services.trust.material.local is not None,
    )


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
    disclosure = current_services().trust.disclosure
    page = render_template(
        "verify/evidence.html", check=check, evidence_id=evidence_id, names_shown=names_shown, disclosure=disclosure
    )
    return page, status


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def verify_proof() -> ResponseReturnValue:
    """Anyone uploads a proof PDF and learns whether it is genuine."""
    disclosure = current_services().trust.disclosure
    if request.method == "GET":
        return render_template("verify/upload.html", check=None, names_shown=set(), disclosure=disclosure)
    upload = request.files.get("proof")
    if upload is None or not upload.filename:
        page = render_template(
            "verify/upload.html", check=None, error="missing", names_shown=set(), disclosure=disclosure
        )
        return page, 422
    data = upload.read(MAX_PROOF_UPLOAD + 1)
    if len(data) > MAX_PROOF_UPLOAD:
        abort(413)
    check = check_proof_pdf(db.session, current_services(), data)
    names_shown = names_shown_publicly(db.session, [record.record.get("letter_id") for record in check.records])
    db.session.rollback()
    return render_template("verify/upload.html", check=check, names_shown=names_shown, disclosure=disclosure), 200
