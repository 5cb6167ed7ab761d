"""A batch's life: stored from a valid upload, then deposited by its job, a chunk per transaction.

The job is idempotent and resumable: each row's letter carries the idempotency key
`batch:<batch id>:<row>`, unique per organisation, and the row records its letter
in the transaction that deposits it.  A worker killed mid-way loses the current
chunk only; the next run skips every row already deposited.  A run out of time
queues its continuation (`deposit_job_id` names each hand-over) so that other jobs
are not held up; the batch's `deposited_rows` is its progress.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import IO, Any, cast

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from webapp.extensions import DbSession, db
from webapp.letters.bulk.documents import SinglePdf, open_archive, read_entry
from webapp.letters.bulk.limits import LIMITS, BulkLimits
from webapp.letters.bulk.validation import validate_bulk
from webapp.letters.deposit import DepositRequest, clean_document_name, deposit_letter
from webapp.letters.eid import IdentityRequirement
from webapp.letters.errors import LetterError, OrganisationNotVerified
from webapp.letters.notifications import preview_notification
from webapp.models import Batch, BatchDocument, BatchRow, BatchStatus, Letter, Organisation, User
from webapp.models.types import new_id
from webapp.notify.texts import sms_length
from webapp.queue import Priority, enqueue_after_commit
from webapp.services import Services, current_services
from webapp.storage import BATCH_DOCUMENTS

CHUNK_ROWS = 25  # rows deposited per transaction: on SQLite, the write lock is held for one chunk (~0.3 s)
JOB_SECONDS = 60.0  # then the job hands over to a new one: other jobs (notifications) are not held up


def create_batch(
    session: DbSession,
    services: Services,
    sender: User,
    csv_data: bytes,
    *,
    csv_name: str,
    archive: IO[bytes] | None = None,
    single: SinglePdf | None = None,
    language: str | None = None,
    limits: BulkLimits | None = None,
    document_confidential: bool = False,
    confirmed: bool = True,
) -> Batch:
    """Validates the whole file, then stores the batch (rows, PDFs encrypted) and queues its deposit;
    unless not `confirmed` (the portal): then it waits, `UNCONFIRMED`, for `confirm_batch`.

    Raises `OrganisationNotVerified` or `BatchRejected`, having added nothing to the session.
    The caller commits; the job starts after the commit.
    """
    if sender.organisation.verified_at is None:
        raise OrganisationNotVerified()
    limits = limits or LIMITS
    chosen = (language or services.settings.default_language).strip().lower()
    rows = validate_bulk(
        csv_data,
        archive=archive,
        single=single,
        language=chosen,
        max_document_bytes=services.settings.max_document_bytes,
        limits=limits,
        allow_active_content=sender.organisation.allows_active_content,
        settings=services.settings,
    )
    batch = Batch(
        organisation_id=sender.organisation_id,
        user_id=sender.id,
        status=BatchStatus.READY if confirmed else BatchStatus.UNCONFIRMED,
        csv_name=clean_document_name(csv_name)[:255],
        language=chosen,
        document_confidential=document_confidential,
        total_rows=len(rows),
        deposited_rows=0,
        created_at=services.clock.now(),
    )
    session.add(batch)
    session.flush()
    _store_documents(session, services, batch, {row.document_name for row in rows}, archive, single, limits)
    session.execute(
        insert(BatchRow),
        [
            {
                "batch_id": batch.id,
                "row_number": row.row_number,
                "recipient_name": row.recipient_name,
                "recipient_phone": row.recipient_phone,
                "recipient_email": row.recipient_email,
                "sender_reference": row.sender_reference,
                "language": row.language,
                "document_name": row.document_name,
                "identity": row.identity.to_json() if row.identity is not None else None,  # issue 19
            }
            for row in rows
        ],
    )
    if confirmed:
        enqueue_after_commit(
            session, deposit_batch_job, batch.id, job_id=deposit_job_id(batch.id, 0), priority=Priority.BULK
        )
    return batch


class BatchNotUnconfirmed(LetterError):
    """The batch was confirmed or cancelled already."""

    code = "batch_not_unconfirmed"


@dataclass(frozen=True)
class BatchSummary:
    """What a batch will send, for the sender to confirm: counts, languages and SMS segments."""

    rows: int
    recipients: int  # distinct mobile numbers
    by_email: int  # rows notified by email as well as by SMS
    languages: dict[str, int]
    documents: int
    sms_segments: int  # of the notification SMS (reminders and code SMS come on top)


def batch_summary(session: DbSession, services: Services, batch: Batch) -> BatchSummary:
    """Counted from the stored rows: the notification SMS of each language is the one `preview_notification`
    writes, so its segments are what the operator will bill."""
    rows = session.execute(
        select(BatchRow.recipient_phone, BatchRow.recipient_email, BatchRow.language, BatchRow.document_name).where(
            BatchRow.batch_id == batch.id
        )
    ).all()
    languages: dict[str, int] = {}
    for row in rows:
        languages[row.language] = languages.get(row.language, 0) + 1
    organisation = session.get_one(Organisation, batch.organisation_id)
    segments = {
        language: sms_length(preview_notification(services, organisation, language)).segments for language in languages
    }
    return BatchSummary(
        rows=len(rows),
        recipients=len({row.recipient_phone for row in rows}),
        by_email=sum(1 for row in rows if row.recipient_email),
        languages=dict(sorted(languages.items(), key=lambda item: -item[1])),
        documents=len({row.document_name for row in rows}),
        sms_segments=sum(count * segments[language] for language, count in languages.items()),
    )


def confirm_batch(session: DbSession, services: Services, sender: User, batch: Batch) -> Batch:
    """The sender saw the summary and confirms: the batch is queued for deposit (after the commit)."""
    if sender.organisation.verified_at is None:
        raise OrganisationNotVerified()
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Batch)
            .where(Batch.id == batch.id, Batch.status == BatchStatus.UNCONFIRMED)
            .values(status=BatchStatus.READY)
            .execution_options(synchronize_session=False)
        ),
    )
    claimed = result.rowcount
    if claimed != 1:
        raise BatchNotUnconfirmed("this batch was confirmed or cancelled already")
    session.refresh(batch)
    enqueue_after_commit(
        session, deposit_batch_job, batch.id, job_id=deposit_job_id(batch.id, 0), priority=Priority.BULK
    )
    return batch


def cancel_batch(session: DbSession, batch: Batch) -> None:
    """Deletes an unconfirmed batch, its rows and its PDFs: nothing was deposited."""
    if batch.status is not BatchStatus.UNCONFIRMED:
        raise BatchNotUnconfirmed("only an unconfirmed batch can be cancelled")
    session.execute(delete(BatchRow).where(BatchRow.batch_id == batch.id))
    session.execute(delete(BatchDocument).where(BatchDocument.batch_id == batch.id))
    session.delete(batch)


def _store_documents(
    session: DbSession,
    services: Services,
    batch: Batch,
    names: set[str],
    archive: IO[bytes] | None,
    single: SinglePdf | None,
    limits: BulkLimits,
) -> None:
    """Each distinct PDF once, encrypted with its own data key, read again from the ZIP (checked already)."""
    opened = open_archive(archive, limits) if archive is not None else None
    max_bytes = services.settings.max_document_bytes
    for name in sorted(names):
        if opened is not None:
            data = read_entry(opened, opened.by_name[name], max_bytes)
        elif single is not None:
            data = single.data
        else:
            raise ValueError("a batch has a ZIP file or one PDF")
        document_id = new_id()  # known before the flush: the ciphertext is bound to it
        stored = services.objects.put(
            data,
            context=f"batch-document:{document_id}",
            kind=BATCH_DOCUMENTS,
            owner_id=document_id,
            now=services.clock.now(),
        )
        document = BatchDocument(id=document_id, batch_id=batch.id, name=name)
        stored.apply(document)
        session.add(document)
        session.flush()
        session.expunge(document)  # the ciphertexts of a large ZIP are not all kept in memory


def deposit_job_id(batch_id: str, deposited: int) -> str:
    """One job id per batch and progress: a run that hands over queues the next one, never a twin."""
    return f"batch-{batch_id}-{deposited}"


def row_idempotency_key(batch_id: str, row_number: int) -> str:
    return f"batch:{batch_id}:{row_number}"


def _documents_for(session: DbSession, services: Services, batch_id: str, names: set[str]) -> dict[str, bytes]:
    stored = session.execute(
        select(BatchDocument).where(BatchDocument.batch_id == batch_id, BatchDocument.name.in_(names))
    ).scalars()
    return {
        document.name: services.objects.read(document, context=f"batch-document:{document.id}") for document in stored
    }


def _deposit_chunk(session: DbSession, services: Services, batch: Batch, sender: User, rows: list[BatchRow]) -> None:
    """Deposits the rows that have no letter yet; a row whose key already made a letter just records it."""
    keys = {row_idempotency_key(batch.id, row.row_number): row for row in rows}
    existing = dict(
        session.execute(
            select(Letter.idempotency_key, Letter.id).where(
                Letter.organisation_id == batch.organisation_id, Letter.idempotency_key.in_(keys)
            )
        ).all()
    )
    documents = _documents_for(session, services, batch.id, {row.document_name for row in rows})
    for key, row in keys.items():
        if key in existing:
            row.letter_id = existing[key]
            continue
        letter = deposit_letter(
            session,
            services,
            sender,
            DepositRequest(
                document=documents[row.document_name],
                document_name=row.document_name,
                recipient_phone=row.recipient_phone,
                recipient_name=row.recipient_name,
                recipient_email=row.recipient_email,
                channel="email" if row.recipient_email else "sms",
                language=row.language,
                sender_reference=row.sender_reference,
                identity=IdentityRequirement.from_json(row.identity) if row.identity else None,  # issue 19
                idempotency_key=key,
                batch_id=batch.id,
                document_confidential=batch.document_confidential,
            ),
        )
        row.letter_id = letter.id


def _pending_rows(session: DbSession, batch_id: str, limit: int) -> list[BatchRow]:
    return list(
        session.execute(
            select(BatchRow)
            .where(BatchRow.batch_id == batch_id, BatchRow.letter_id.is_(None))
            .order_by(BatchRow.row_number)
            .limit(limit)
        ).scalars()
    )


def _count_deposited(session: DbSession, batch_id: str) -> int:
    return session.execute(
        select(func.count()).where(BatchRow.batch_id == batch_id, BatchRow.letter_id.is_not(None))
    ).scalar_one()


def deposit_batch(
    session: DbSession,
    services: Services,
    batch_id: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
    seconds: float | None = JOB_SECONDS,
) -> BatchStatus | None:
    """Deposits the batch's remaining rows, a chunk per transaction, for at most `seconds` (None: to the end).

    Out of time, it queues its continuation in the last chunk's transaction.  Done, it deletes the
    uploaded PDFs (every letter keeps its own encrypted copy).  Safe to run twice, or after a crash.
    """
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    if batch.status in {BatchStatus.DONE, BatchStatus.FAILED}:
        return batch.status
    if batch.status is BatchStatus.READY:
        batch.status = BatchStatus.DEPOSITING
        batch.started_at = services.clock.now()
        session.commit()
    deadline = None if seconds is None else time.monotonic() + seconds
    conflicts = 0
    while True:
        sender = session.get_one(User, batch.user_id)
        rows = _pending_rows(session, batch_id, chunk_rows)
        if not rows:
            break
        try:
            _deposit_chunk(session, services, batch, sender, rows)
            session.flush()
        except IntegrityError:
            # Another run deposited one of these rows meanwhile: start the chunk again, it records that letter.
            session.rollback()
            conflicts += 1
            if conflicts > 3:
                raise
            continue
        except LetterError as exc:
            # The rows were valid at upload; what changed since (the organisation's verification) stops the batch.
            session.rollback()
            return _fail(session, services, batch_id, exc)
        batch.deposited_rows = _count_deposited(session, batch_id)
        more = len(rows) == chunk_rows
        if more and deadline is not None and time.monotonic() > deadline:
            enqueue_after_commit(
                session,
                deposit_batch_job,
                batch_id,
                job_id=deposit_job_id(batch_id, batch.deposited_rows),
                priority=Priority.BULK,
            )
            session.commit()
            return batch.status
        session.commit()
        if not more:
            break
    batch.status = BatchStatus.DONE
    batch.deposited_rows = _count_deposited(session, batch_id)
    batch.finished_at = services.clock.now()
    _delete_documents(session, services, batch_id)
    return BatchStatus.DONE


def _fail(session: DbSession, services: Services, batch_id: str, exc: LetterError) -> BatchStatus:
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(
            status=BatchStatus.FAILED,
            error=exc.code[:200],
            finished_at=services.clock.now(),
            deposited_rows=_count_deposited(session, batch_id),
        )
    )
    _delete_documents(session, services, batch_id)
    return BatchStatus.FAILED


def _delete_documents(session: DbSession, services: Services, batch_id: str) -> None:
    """Drops the batch's uploaded files, commits, then deletes their objects (the sweep catches a failure)."""
    keys = list(session.execute(select(BatchDocument.object_key).where(BatchDocument.batch_id == batch_id)).scalars())
    session.execute(delete(BatchDocument).where(BatchDocument.batch_id == batch_id))
    session.commit()
    services.objects.discard(keys)


def batch_for_organisation(session: DbSession, organisation_id: str, batch_id: str) -> Batch | None:
    """The batch if it belongs to the organisation (callers answer 404 otherwise)."""
    return session.execute(
        select(Batch).where(Batch.id == batch_id, Batch.organisation_id == organisation_id)
    ).scalar_one_or_none()


def organisation_batches(session: DbSession, organisation_id: str, limit: int) -> list[Batch]:
    """The organisation's latest batches, newest first."""
    return list(
        session.execute(
            select(Batch).where(Batch.organisation_id == organisation_id).order_by(Batch.created_at.desc()).limit(limit)
        ).scalars()
    )


def batch_letters_after(session: DbSession, batch: Batch, *, after_row: int, limit: int) -> list[tuple[int, Letter]]:
    """The batch's letters after a row, in the CSV's order, each with its row number (the API's cursor)."""
    rows = session.execute(
        select(BatchRow.row_number, Letter)
        .join(Letter, Letter.id == BatchRow.letter_id)
        .where(BatchRow.batch_id == batch.id, BatchRow.row_number > after_row)
        .order_by(BatchRow.row_number)
        .limit(limit)
    ).all()
    return [(number, letter) for number, letter in rows]


def batch_letters_page(
    session: DbSession, batch: Batch, *, page: int, page_size: int
) -> tuple[list[tuple[int, Letter]], int]:
    """One page of the batch's letters in the CSV's order, each with its row number; and how many there are."""
    condition = (Letter.batch_id == batch.id, Letter.organisation_id == batch.organisation_id)
    total = session.execute(select(func.count()).select_from(Letter).where(*condition)).scalar_one()
    rows = session.execute(
        select(BatchRow.row_number, Letter)
        .join(BatchRow, BatchRow.letter_id == Letter.id)
        .where(*condition)
        .order_by(BatchRow.row_number)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return [(number, letter) for number, letter in rows], total


def deposit_batch_job(batch_id: str) -> str | None:
    """RQ job: `deposit_batch` for at most `JOB_SECONDS`; the sweeper (`webapp.sweepers`) queues again an
    unfinished batch whose job was lost."""
    status = deposit_batch(db.session, current_services(), batch_id)
    return status.value if status else None
