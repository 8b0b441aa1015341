"""Attachments from memory (issue #22 §1): a queued email carries its attachments' bytes when they
fit under the queue message's budget, and the worker then reads nothing back from S3; attachments
that do not fit, and messages queued before (keys only), are read from S3 as before."""
import json

import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.services import notifications
from chalicelib.services.notifications import MESSAGE_BUDGET, email_message
from tests.support import billed_in_november, sp

CONTEXT = {"user": {"name": "Pessoa", "email": "pessoa@e.example"}, "organization": {"name": "Empresa"},
           "role_labels": ["Adm"], "is_master": False, "temporary_password": "Temp#1234567",
           "contract_items": [], "portal_url": "http://portal.test",
           "office365_admin_url": "https://admin.microsoft.com"}


def message(key, attachments):
    return email_message(template="user_invited", to=["pessoa@e.example"], context=CONTEXT, delivery_key=key,
                         attachments=attachments)


def attached(email):
    return {part.get_filename(): part.get_content() for part in email.iter_attachments()}


@pytest.fixture
def s3_reads(world, monkeypatch):
    reads, real = [], world.deps.documents.get
    monkeypatch.setattr(world.deps.documents, "get", lambda key: (reads.append(key), real(key))[1])
    return reads


def test_attachments_given_with_their_bytes_travel_in_the_message_and_are_not_read_back(world, s3_reads):
    queued = message("mem-1", [{"key": "k/a.pdf", "filename": "a.pdf", "content_type": "application/pdf",
                                "content": b"%PDF-1.4 a"},
                               {"key": "k/b.xml", "filename": "b.xml", "content_type": "application/xml",
                                "content": b"<nota/>"}])
    assert [a.get("content_b64") is not None for a in queued["attachments"]] == [True, True]
    assert all("content" not in a for a in queued["attachments"])
    json.dumps(queued)  # what the queue sends

    assert notifications.deliver_email(world.deps, queued) is True

    [email] = world.outbox()
    assert attached(email) == {"a.pdf": b"%PDF-1.4 a", "b.xml": b"<nota/>"}
    assert s3_reads == []  # nothing stored under those keys: reading one would have failed


def test_a_message_queued_before_with_keys_only_is_sent_from_s3(world, s3_reads):
    key = world.deps.documents.put("tests/old.pdf", b"%PDF-old", "application/pdf")
    old = {"kind": "email", "template": "user_invited", "to": ["pessoa@e.example"], "context": CONTEXT,
           "delivery_key": "old-1", "attachments": [{"key": key, "filename": "old.pdf",
                                                     "content_type": "application/pdf"}]}

    assert notifications.deliver_email(world.deps, old) is True

    assert attached(world.outbox()[0]) == {"old.pdf": b"%PDF-old"} and s3_reads == [key]


def test_an_attachment_too_big_for_the_message_goes_by_its_key_and_the_small_ones_still_travel(world, s3_reads):
    big = bytes(range(256)) * 1200  # 307 200 bytes: over SQS's 256 KiB once base64-encoded
    key = world.deps.documents.put("tests/big.pdf", big, "application/pdf")
    queued = message("big-1", [{"key": "k/small.xml", "filename": "small.xml", "content_type": "application/xml",
                                "content": b"<nota/>"},
                               {"key": key, "filename": "big.pdf", "content_type": "application/pdf",
                                "content": big}])

    assert len(json.dumps(queued, sort_keys=True).encode()) <= MESSAGE_BUDGET < 256 * 1024
    assert [a.get("content_b64") is not None for a in queued["attachments"]] == [True, False]
    assert queued["attachments"][1] == {"key": key, "filename": "big.pdf", "content_type": "application/pdf"}
    assert notifications.deliver_email(world.deps, queued) is True
    assert attached(world.outbox()[0]) == {"small.xml": b"<nota/>", "big.pdf": big}
    assert s3_reads == [key]


def test_the_queue_accepts_the_message_queue_email_makes_and_the_worker_sends_it(world, s3_reads):
    notifications.queue_email(world.deps, template="user_invited", to=["pessoa@e.example"], context=CONTEXT,
                              delivery_key="queued-1", attachments=[{"key": "k/a.pdf", "filename": "a.pdf",
                                                                     "content_type": "application/pdf",
                                                                     "content": b"%PDF-1.4 queued"}])
    world.drain_queues()
    assert attached(world.outbox()[0]) == {"a.pdf": b"%PDF-1.4 queued"} and s3_reads == []


def test_a_billed_invoices_real_documents_fit_the_message_budget(world):
    # The boleto PDF, the DANFSe and the NFS-e XML of a real invoice: what the invoice email attaches.
    clock = world.deps.clock = FixedClock(sp(2026, 10, 1))
    _, _, invoice = billed_in_november(world, clock)
    files = [(a["filename"], a["content_type"], world.deps.documents.get(a["key"]))
             for a in [{"key": invoice.active_boleto.pdf_key, "filename": "boleto.pdf",
                        "content_type": "application/pdf"},
                       {"key": invoice.nfse.pdf_key, "filename": "nfse.pdf", "content_type": "application/pdf"},
                       {"key": invoice.nfse.xml_key, "filename": "nfse.xml", "content_type": "application/xml"}]]
    queued = message("real-1", [{"key": f"k/{name}", "filename": name, "content_type": kind, "content": data}
                                for name, kind, data in files])

    size = len(json.dumps(queued, sort_keys=True).encode())
    print(f"\nreal attachments: {[(name, len(data)) for name, _, data in files]}; message {size} bytes, "
          f"{size / MESSAGE_BUDGET:.1%} of the budget")
    assert all(a.get("content_b64") is not None for a in queued["attachments"])
    assert size <= MESSAGE_BUDGET
