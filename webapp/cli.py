"""`flask` commands: thin adapters over the same service functions as the web and the jobs."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.accounts.errors import AccountError
from webapp.accounts.signup import (
    create_sender,
    find_organisation,
    organisation_admin_contacts,
    set_active_content_allowed,
    unverified_organisations,
    verify_organisation,
)
from webapp.accounts.tokens import create_api_token
from webapp.extensions import db
from webapp.services import current_services

sender_cli = AppGroup("sender", help="Sender organisations and users.")
token_cli = AppGroup("token", help="API tokens.")
letters_cli = AppGroup("letters", help="Letter maintenance.")
org_cli = AppGroup("org", help="Sender organisations: identity verification by an operator.")
agent_cli = AppGroup("agent", help="The service's support agents (the /support console).")


@sender_cli.command("create")
@click.option("--org", "org_name", required=True, help="Organisation name (created if new).")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 12 characters, not the email.")
def sender_create(org_name: str, email: str, password: str) -> None:
    """Create a (verified) organisation if needed and a sender user in it."""
    try:
        user = create_sender(db.session, current_services().clock, org_name=org_name, email=email, password=password)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created sender {user.email} in organisation {user.organisation.name}.")


@agent_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 12 characters, not the email.")
@click.option("--operator-admin", is_flag=True, help="Also manages agents from the console.")
def agent_create(email: str, password: str, operator_admin: bool) -> None:
    """Create a support agent; two-factor authentication is set up at their first log-in."""
    from webapp.support.agents import create_agent

    try:
        agent = create_agent(
            db.session, current_services().clock, email=email, password=password, operator_admin=operator_admin
        )
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    role = "operator admin" if agent.is_operator_admin else "agent"
    click.echo(f"Created {role} {agent.email}.")
    click.echo("At the first log-in on /support/login, they set up two-factor authentication (an authenticator app).")


@org_cli.command("verify")
@click.option("--org", "org_ref", required=True, help="Organisation name or id.")
@click.option("--by", "operator", required=True, help="Email of the operator who checked the identity.")
@click.option("--document", required=True, help='What was checked, e.g. "CIN AB123456 + RC 12345".')
def org_verify(org_ref: str, operator: str, document: str) -> None:
    """Record that an operator verified an organisation's identity: it can send from now on."""
    try:
        org = find_organisation(db.session, org_ref)
        verify_organisation(db.session, current_services().clock, org, by=operator, document=document)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Verified {org.legal_name} ({org.id}) by {org.verified_by} on {org.verified_at:%Y-%m-%d %H:%M} UTC.")


@org_cli.command("active-content")
@click.option("--org", "org_ref", required=True, help="Organisation name or id.")
@click.option("--allow/--refuse", required=True, help="Allow PDFs with active content, or refuse them (the default).")
def org_active_content(org_ref: str, allow: bool) -> None:
    """Allow an organisation's PDFs to carry active content (JavaScript, embedded files, XFA…), or not.

    Refused by default at deposit; when allowed, the recipient is told what the document holds before
    downloading it."""
    try:
        org = find_organisation(db.session, org_ref)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    set_active_content_allowed(org, allow)
    db.session.commit()
    click.echo(f"{org.legal_name} ({org.id}): PDFs with active content {'allowed' if allow else 'refused'}.")


@org_cli.command("list")
@click.option("--unverified", is_flag=True, help="Only organisations awaiting verification.")
def org_list(unverified: bool) -> None:
    """List organisations: id, ICE, verification, legal name, first admin and whether their email is confirmed."""
    from sqlalchemy import select

    from webapp.models import Organisation

    if unverified:
        orgs = unverified_organisations(db.session)
    else:
        orgs = list(db.session.execute(select(Organisation).order_by(Organisation.created_at)).scalars())
    admins = organisation_admin_contacts(db.session, [org.id for org in orgs])
    db.session.rollback()
    for org in orgs:
        status = f"verified {org.verified_at:%Y-%m-%d} by {org.verified_by}" if org.verified_at else "UNVERIFIED"
        # The admin who signed up: the operator checks the identity of a confirmed address.
        admin = admins.get(org.id)
        confirmed = "confirmed" if admin is not None and admin.email_confirmed else "EMAIL UNCONFIRMED"
        contact = "-" if admin is None else f"{admin.email} ({confirmed})"
        click.echo(f"{org.id}  {org.ice or '-':15}  {status}  {org.legal_name}  {contact}")
    click.echo(f"{len(orgs)} organisation(s).")


@token_cli.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", default="cli", help="A label to recognise the token by.")
def token_create(email: str, name: str) -> None:
    """Create an API token; it is printed once, as the last line."""
    try:
        token = create_api_token(db.session, current_services().clock, email=email, name=name)
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo("API token (shown once, store it safely):")
    click.echo(token)


@letters_cli.command("expire")
def letters_expire() -> None:
    """Mark notified letters past their deadline as neglected (the scheduler does it every 15 s)."""
    from webapp.letters.recipient import expire_overdue_letters

    count = expire_overdue_letters(db.session, current_services())
    click.echo(f"{count} letter(s) marked neglected.")


@letters_cli.command("requeue")
def letters_requeue() -> None:
    """Enqueue notifications whose job was lost (for instance while Redis was down)."""
    from webapp.sweepers import requeue_stalled_messages

    count = requeue_stalled_messages(db.session, current_services(), older_than=0)
    click.echo(f"{count} message(s) enqueued.")


proofs_cli = AppGroup("proofs", help="Proofs of deposit, reception, refusal, negligence, non-delivery.")
evidence_cli = AppGroup("evidence", help="The evidence journal.")


@proofs_cli.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def proofs_verify(file: Path) -> None:
    """Check a proof PDF: signature, timestamp, and every evidence record it carries."""
    from webapp.trust.verify import check_proof_pdf

    check = check_proof_pdf(db.session, current_services(), file.read_bytes())
    db.session.rollback()

    def line(ok: bool, text: str) -> None:
        click.echo(f"  [{'ok' if ok else 'FAIL'}] {text}")

    click.echo(f"{file}:")
    if check.problem:
        click.echo(f"  {check.problem}")
    line(check.signature_intact, "signature intact (the file is as signed)")
    line(check.signature_trusted, f"signed by our seal: {check.signed_by or '-'}")
    line(check.unmodified, "nothing changed since sealing (only validation data and archive timestamps added)")
    line(check.timestamped_at is not None, f"signature timestamp: {check.timestamped_at or '-'}")
    stamps = ", ".join(str(moment) for moment in check.archive_timestamps) or "none"
    line(check.archive_timestamps_ok, f"archive timestamps: {stamps}")
    lta = check.lta
    if lta is not None:
        detail = f"valid, proven to exist at {lta.proven_at}" if lta.valid else f"not valid: {lta.problem}"
        line(lta.valid, f"long-term validation (PAdES B-LTA, revocation information required): {detail}")
    if check.trial:
        click.echo(
            "  TRIAL SETUP: sealed and timestamped by the built-in local CA; not a qualified service, not for court"
        )
    elif check.seal_issuer:
        click.echo(f"  seal certificate issued by {check.seal_issuer}; timestamps by {check.tsa_name or '-'}")
    for record in check.records:
        seal_ok = record.seal is not None and record.seal.ok
        line(
            record.genuine,
            f"record {record.evidence_id} {record.event}: hash {'ok' if record.hash_ok else 'BAD'}, "
            f"journal {'ok' if record.in_journal else 'BAD'}, chain {'ok' if record.chain_ok else 'BAD'}, "
            f"seal {'ok' if seal_ok else 'BAD'}",
        )
    attested = check.attested
    if attested is not None:
        facts = attested.record
        click.echo(
            f"  attests: {facts.get('event')} at {facts.get('at')} for letter {facts.get('reference')}, "
            f"document sha256 {facts.get('document', {}).get('sha256')}"
        )
    click.echo("GENUINE" if check.genuine else "NOT GENUINE")
    if not check.genuine:
        raise SystemExit(1)


@evidence_cli.command("audit")
@click.option("--skip-seals", is_flag=True, help="Check hashes, links, the log and its signatures only (faster).")
@click.option(
    "--against",
    "against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint kept outside (from /journal/checkpoint or a proof): the journal must still contain it.",
)
def evidence_audit(skip_seals: bool, against: Path | None) -> None:
    """Walk every record, Merkle node and checkpoint; report anything that does not check. Exits 1 if so."""
    from webapp.trust.audit import audit_journal

    note = against.read_text(encoding="utf-8") if against is not None else None
    report = audit_journal(db.session, current_services(), check_seals=not skip_seals, against=note)
    db.session.rollback()
    for problem in report.problems:
        click.echo(f"PROBLEM {problem}")
    click.echo(
        f"{report.records} record(s), {report.logged} in the transparency log, {report.checkpoints} checkpoint(s), "
        f"{report.unsealed} awaiting the next checkpoint."
    )
    if report.against:
        click.echo(f"Checked against the checkpoint held outside: {report.against}.")
    if not report.intact:
        click.echo(f"{len(report.problems)} problem(s) found.")
        raise SystemExit(1)
    click.echo("The journal is intact.")


@evidence_cli.command("checkpoint")
def evidence_checkpoint() -> None:
    """Log the records appended since the last checkpoint and publish a new checkpoint now."""
    from webapp.trust.journal import latest_checkpoint, write_checkpoint

    write_checkpoint(db.session, current_services(), force=True)
    latest = latest_checkpoint(db.session)
    db.session.rollback()
    click.echo(f"Checkpoint of {latest.tree_size} records." if latest else "The journal is empty.")


def register_commands(app: Flask) -> None:
    app.cli.add_command(sender_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(org_cli)
    app.cli.add_command(agent_cli)
    app.cli.add_command(letters_cli)
    app.cli.add_command(proofs_cli)
    app.cli.add_command(evidence_cli)
