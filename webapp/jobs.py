"""RQ job functions: thin adapters that take ids only and call the letters service.

They run inside the app context that the worker's entry point provides.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.letters.notifications import dispatch_message, requeue_stalled_messages
from webapp.letters.recipient import expire_overdue_letters
from webapp.services import current_services


def send_message(message_id: str) -> str | None:
    status = dispatch_message(db.session, current_services(), message_id)
    return status.value if status else None


def expire_letters() -> int:
    return expire_overdue_letters(db.session, current_services())


def send_reminders() -> int:
    from webapp.letters.reminders import queue_due_reminders

    return queue_due_reminders(db.session, current_services())


def requeue_messages() -> int:
    return requeue_stalled_messages(db.session, current_services())


def issue_proof(proof_id: str) -> str | None:
    from webapp.trust.proofs import issue_proof as issue
    from webapp.trust.proofs import record_proof_failure
    from webapp.trust.seal import SealError

    try:
        status = issue(db.session, current_services(), proof_id)
    except SealError as exc:
        db.session.rollback()
        record_proof_failure(db.session, proof_id, str(exc))
        raise  # RQ retries with backoff; the sweeper re-enqueues pending proofs
    return status.value if status else None


def checkpoint_journal() -> int:
    """Logs new evidence records in the transparency log and publishes a checkpoint: its size, or 0."""
    from webapp.trust.journal import write_checkpoint

    checkpoint = write_checkpoint(db.session, current_services())
    return checkpoint.tree_size if checkpoint is not None else 0


# Names of jobs that releases before the transparency log enqueued; a queue may still hold them.
seal_evidence = checkpoint_journal


def requeue_proofs() -> int:
    from webapp.trust.proofs import requeue_pending_proofs

    return requeue_pending_proofs(db.session, current_services())


def checkpoint_chain() -> bool:
    return checkpoint_journal() > 0


def refresh_trust() -> bool:
    """Renews local certificates that are due and issues the next CRL when due (a no-op when configured)."""
    return current_services().trust.maintain() is not None


def renew_archive_timestamps() -> int:
    from webapp.letters.archive import renew_archive_timestamps as renew

    return renew(db.session, current_services())


def deliver_webhook(delivery_id: str) -> str | None:
    from webapp.hooks.delivery import deliver_webhook_job

    return deliver_webhook_job(delivery_id)


def requeue_webhooks() -> int:
    from webapp.hooks.delivery import requeue_due_deliveries

    return requeue_due_deliveries(db.session, current_services())


def deposit_batch(batch_id: str) -> str | None:
    from webapp.letters.bulk import deposit_batch as deposit

    status = deposit(db.session, current_services(), batch_id)
    return status.value if status else None


def requeue_batches() -> int:
    from webapp.letters.bulk import requeue_batches as requeue

    return requeue(db.session)


def requeue_account_emails() -> int:
    from webapp.accounts import requeue_link_emails

    return requeue_link_emails(db.session, current_services())


def email_invitation(invitation_id: str) -> str | None:
    from webapp.accounts import deliver_invitation_email

    status = deliver_invitation_email(db.session, current_services(), invitation_id)
    return status.value if status else None


def email_confirmation_link(confirmation_id: str) -> str | None:
    from webapp.accounts import deliver_confirmation_email

    status = deliver_confirmation_email(db.session, current_services(), confirmation_id)
    return status.value if status else None
