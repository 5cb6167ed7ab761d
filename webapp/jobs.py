"""The scheduler's periodic jobs, and the names under which earlier releases queued the others.

Every job takes ids only, runs in the app context the worker's entry point provides,
and is idempotent.  A job that a domain function enqueues lives next to the service it
adapts (`letters.notifications.send_message_job`, `letters.proofs.issue_proof_job`,
`trust.journal.checkpoint_journal_job`, `hooks.delivery.deliver_webhook_job`,
`letters.bulk.deposit_batch_job`, `accounts.invitations.email_invitation_job`, …) and is enqueued as
a function object, so that a reader follows a letter from the deposit to its SMS.  The
jobs below are the scheduler's (`worker.app_worker.SCHEDULE`): nothing enqueues them
but the clock.
"""

from __future__ import annotations

from webapp import sweepers
from webapp.accounts import invitations, signup
from webapp.extensions import db
from webapp.hooks import delivery
from webapp.letters import bulk, notifications, proofs, retention
from webapp.letters.archive import renew_archive_timestamps as renew
from webapp.letters.recipient import expire_overdue_letters
from webapp.letters.reminders import queue_due_reminders
from webapp.services import current_services
from webapp.trust import journal


def expire_letters() -> int:
    return expire_overdue_letters(db.session, current_services())


def send_reminders() -> int:
    return queue_due_reminders(db.session, current_services())


def refresh_trust() -> bool:
    """Renews local certificates that are due and issues the next CRL when due (a no-op when configured)."""
    return current_services().trust.maintain() is not None


def renew_archive_timestamps() -> int:
    return renew(db.session, current_services())


def delete_expired_documents() -> int:
    """Documents past DOCUMENT_RETENTION_YEARS after their letter's final state, unless held."""
    return retention.delete_expired_documents(db.session, current_services())


# The sweeps of `webapp.sweepers`, one periodic job each (the registry says what, how old, which job).


def requeue_messages() -> int:
    return sweepers.sweep(db.session, current_services(), sweepers.MESSAGES)


def requeue_proofs() -> int:
    return sweepers.sweep(db.session, current_services(), sweepers.PROOFS)


def requeue_webhooks() -> int:
    return sweepers.sweep(db.session, current_services(), sweepers.WEBHOOKS)


def requeue_batches() -> int:
    return sweepers.sweep(db.session, current_services(), sweepers.BATCHES)


def requeue_account_emails() -> int:
    services = current_services()
    return sum(
        sweepers.sweep(db.session, services, sweeper)
        for sweeper in (sweepers.INVITATION_EMAILS, sweepers.CONFIRMATION_EMAILS, sweepers.VERIFICATION_EMAILS)
    )


def sweep_orphan_objects() -> int:
    return sweepers.sweep(db.session, current_services(), sweepers.ORPHAN_OBJECTS)


def resume_key_rewraps() -> int:
    return sweepers.sweep(db.session, current_services(), sweepers.KEY_REWRAP)


# Names under which earlier releases enqueued jobs by string; a queue may still hold them after an upgrade.
send_message = notifications.send_message_job  # "webapp.jobs.send_message"
issue_proof = proofs.issue_proof_job  # "webapp.jobs.issue_proof"
checkpoint_journal = journal.checkpoint_journal_job  # "webapp.jobs.checkpoint_journal"
seal_evidence = journal.checkpoint_journal_job  # "webapp.jobs.seal_evidence", before the transparency log
deliver_webhook = delivery.deliver_webhook_job  # "webapp.jobs.deliver_webhook"
deposit_batch = bulk.deposit_batch_job  # "webapp.jobs.deposit_batch"
email_invitation = invitations.email_invitation_job  # "webapp.jobs.email_invitation"
email_confirmation_link = signup.email_confirmation_job  # "webapp.jobs.email_confirmation_link"


def checkpoint_chain() -> bool:  # "webapp.jobs.checkpoint_chain"
    """The journal's checkpoint under the name a schedule before the transparency log used."""
    return journal.checkpoint_journal_job() > 0
