"""`flask` commands: thin adapters over the same service functions as the web and the jobs."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.accounts import AccountError, create_api_token, create_sender
from webapp.extensions import db
from webapp.services import current_services

sender_cli = AppGroup("sender", help="Sender organisations and users.")
token_cli = AppGroup("token", help="API tokens.")
letters_cli = AppGroup("letters", help="Letter maintenance.")


@sender_cli.command("create")
@click.option("--org", "org_name", required=True, help="Organisation name (created if new).")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
def sender_create(org_name: str, email: str, password: str) -> None:
    """Create a (verified) organisation if needed and a sender user in it."""
    try:
        user = create_sender(
            db.session, current_services().clock, org_name=org_name, email=email, password=password
        )
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created sender {user.email} in organisation {user.organisation.name}.")


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
    from webapp.letters.notifications import requeue_stalled_messages

    count = requeue_stalled_messages(db.session, current_services(), older_than=0)
    click.echo(f"{count} message(s) enqueued.")


def register_commands(app: Flask) -> None:
    app.cli.add_command(sender_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(letters_cli)
