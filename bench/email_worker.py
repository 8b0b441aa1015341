"""The email worker's AWS calls per email (issue #22 §1, §5), and its pace.

Batches of ten emails, each carrying its attachments in the message (the size of a real invoice's
boleto, DANFSe and NFS-e XML), handed to the worker's handler as Lambda's SQS event source hands
them; every AWS request counted with the bench's botocore hook (`bench.run.COUNTER`). The common
path: one transaction claims the batch (with the suppression checks), one BatchWriteItem marks it,
one SES send per email, no S3 read. The pace: SES_MAX_SEND_RATE shared by the event source's
concurrent invocations; what it means for a month's invoice emails."""
from __future__ import annotations

import hashlib
import json
import uuid

# A billed invoice's attachments as a test measured them (tests/integration/test_email_attachments.py):
# boleto 11 108 bytes, DANFSe 8 360, NFS-e XML 6 761.
ATTACHMENT_SIZES = (("boleto.pdf", "application/pdf", 11_108), ("nfse.pdf", "application/pdf", 8_360),
                    ("nfse.xml", "application/xml", 6_761))


def _message(key: str) -> dict:
    from chalicelib.services import notifications

    context = {"user": {"name": "Pessoa", "email": f"{key}@bench.example"}, "organization": {"name": "Empresa"},
               "role_labels": ["Adm"], "is_master": False, "temporary_password": "Temp#1234567",
               "contract_items": [], "portal_url": "http://portal.test",
               "office365_admin_url": "https://admin.microsoft.com"}
    return notifications.email_message(
        template="user_invited", to=[f"{key}@bench.example"], context=context, delivery_key=key,
        attachments=[{"key": f"bench/{key}/{name}", "filename": name, "content_type": kind, "content": b"x" * size}
                     for name, kind, size in ATTACHMENT_SIZES])


def _event(queue: str, region: str, messages) -> dict:
    from local.event_pump import sqs_event

    bodies = [json.dumps(m, sort_keys=True) for m in messages]
    return sqs_event(queue, region, [{"MessageId": f"bench-{i}", "ReceiptHandle": f"bench-{i}", "Body": body,
                                      "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
                                      "Attributes": {"ApproximateReceiveCount": "1"}}
                                     for i, body in enumerate(bodies)])


def email_worker(deps, batches: int = 10, invoice_emails: int = 10_000, recipients_per_email: int = 2) -> dict:
    """`batches` full batches through the worker; the AWS calls per email, by service, with the
    targets (≈0.2 DynamoDB, 0 S3); the pace's figures for `invoice_emails` emails."""
    from app import app
    from bench.run import COUNTER, record
    from chalicelib.domain import send_rate
    from chalicelib.jobs import email as email_job
    from chalicelib.settings import from_environ
    from local.event_pump import LambdaContext, sqs_subscriptions

    queue = deps.settings.email_queue_name
    handler, batch_size = sqs_subscriptions(app)[queue]
    run = uuid.uuid4().hex[:8]
    handler(_event(queue, deps.settings.region, [_message(f"warm-{run}")]), LambdaContext(queue))
    before = dict(COUNTER.calls)
    emails = 0
    for b in range(batches):
        messages = [_message(f"bench-{run}-{b}-{n}") for n in range(batch_size)]
        handler(_event(queue, deps.settings.region, messages), LambdaContext(queue))
        emails += len(messages)
    calls = {k: n - before.get(k, 0) for k, n in COUNTER.calls.items() if n - before.get(k, 0)}
    by_service = {}
    for key, n in calls.items():
        by_service[key.split(".")[0]] = by_service.get(key.split(".")[0], 0) + n
    dynamodb, s3 = by_service.get("dynamodb", 0) / emails, by_service.get("s3", 0) / emails
    ses = by_service.get("sesv2", 0) / emails
    # Each email is one SES send: a count below that means the counter did not see the worker's
    # calls (or the worker sent nothing), and zeros elsewhere prove nothing.
    counted = ses >= 1
    quota = from_environ({}).ses_max_send_rate  # the deployed default, not the embedded stack's
    per_invocation = send_rate.share(quota, email_job.MAXIMUM_CONCURRENCY)
    return record("email_worker", {
        "emails sent (batches of 10)": emails,
        "per email: DynamoDB calls": round(dynamodb, 3),
        "per email: DynamoDB calls target": "≤ 0.2 (one claim transaction + one mark per batch of 10)",
        "per email: DynamoDB calls met": counted and dynamodb <= 0.2 + 1e-9,
        "per email: S3 reads": round(s3, 3),
        "per email: S3 reads target": "0 (attachments from memory)",
        "per email: S3 reads met": counted and s3 == 0,
        "per email: SES calls": round(ses, 3),
        "calls by operation": dict(sorted(calls.items())),
        "target": "≤ 0.2 DynamoDB and 0 S3 calls per email on the common path",
        "met": counted and dynamodb <= 0.2 + 1e-9 and s3 == 0,
        "SES_MAX_SEND_RATE default (recipients/s)": quota,
        "event source maximum concurrency": email_job.MAXIMUM_CONCURRENCY,
        "each invocation's pace (recipients/s)": per_invocation,
        "a full batch's pacing (s)": round(send_rate.batch_seconds(batch_size, per_invocation), 2),
        f"{invoice_emails} emails × {recipients_per_email} recipients at the quota (min)":
            round(invoice_emails * recipients_per_email / quota / 60, 1),
    })
