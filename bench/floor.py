"""The honest floor of the billing run (issue #22 §1): what one complete invoice needs by
PRODUCT.md, issued raw against the same moto and the same simulators, calls counted apart.

Per invoice, timed:
  1. read the contract with its subscriptions: ONE query of the organisation's item collection,
     pk=ORG#<org>, sk BETWEEN CONTRACT AND SUB#\\uffff (consistent), as storage/licences.py `panel`;
  2. one transaction: the invoice, the number counter, the period guard (each conditional);
  3. the boleto registered at the bank (`deps.bank.register`, the request the product builds);
  4. the DPS built and signed (once per invoice, as the product must) and the NFS-e emitted
     (`deps.nfse_emitter.emit`);
  5. the documents the email attaches stored: S3 puts of the boleto PDF, the NFS-e XML (the
     emitter's answer) and the DANFSe PDF;
  6. one SES send with those attachments from memory (raw MIME, built by the product's mail adapter).

Not timed: the PDFs' bytes (drawn once beforehand by the product's renderers: the floor does not
render, rendering is reported apart), the email's text (rendered once), the A1 certificate, the
organisations and the invoices the product issued (whose amounts, due dates and takers the floor
declares again under its own numbers: a DPS series and nosso números the product never uses, so
that the simulators generate every note and registration anew instead of answering a known one).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Dict, List

FLOOR_DPS_SERIES = "99999"  # the floor's DPS series: never the product's (settings.nfse_dps_series)


class FloorMissed(AssertionError):
    """The floor's query found nothing: the keys it reads by are not where the product keeps the
    contract and its subscriptions any more, and the floor would time misses."""


@dataclass
class FloorResult:
    invoices: int
    seconds: float
    calls: Counter = field(default_factory=Counter)  # "service.Operation" → count (AWS only)
    call_seconds: Counter = field(default_factory=Counter)
    bank_seconds: float = 0.0
    nfse_seconds: float = 0.0  # building and signing the DPS, and the emitter's call
    mime_seconds: float = 0.0

    def per_invoice_calls(self) -> Dict[str, float]:
        return {op: round(n / self.invoices, 2) for op, n in sorted(self.calls.items())}

    def scaled_to(self, invoices: int) -> "FloorResult":
        """The floor as if measured over `invoices` (the run's N) from this sample: every invoice's
        floor does the same work, so its totals scale with their number."""
        k = invoices / self.invoices
        return FloorResult(invoices=invoices, seconds=self.seconds * k,
                           calls=Counter({op: n * k for op, n in self.calls.items()}),
                           call_seconds=Counter({op: s * k for op, s in self.call_seconds.items()}),
                           bank_seconds=self.bank_seconds * k, nfse_seconds=self.nfse_seconds * k,
                           mime_seconds=self.mime_seconds * k)


def _watch(client, calls: Counter, seconds: Counter):
    """Count one client's calls (and their time) into `calls`/`seconds`, keyed "service.Operation"."""
    started = {}

    def before(model, **_):
        started["at"] = time.perf_counter()

    def after(model, **_):
        key = f"{model.service_model.service_name}.{model.name}"
        calls[key] += 1
        seconds[key] += time.perf_counter() - started.get("at", time.perf_counter())

    client.meta.events.register("before-call.*.*", before)
    client.meta.events.register("after-call.*.*", after)
    client.meta.events.register("after-call-error.*.*", after)
    return client


def _sequence_base(layout) -> int:
    """Nosso números of the floor's boletos: past the second copies' base, in the layout's range."""
    return layout.second_copy_base + layout.second_copy_base // 2


def io_floor(deps, organization_ids: List[str], subscriptions_each: int, closing: date, counter=None) -> FloorResult:
    """The floor over the organisations the billing run invoiced (their invoices for the period
    ending `closing` exist). See the module's docstring for what it does per invoice. With
    `counter` (bench.run's installed AwsCallCounter) its calls are counted and timed as the
    product's are; else by botocore's events on its own clients."""
    import json
    from dataclasses import asdict, replace

    import boto3

    from chalicelib.adapters.mail import OutgoingEmail, build_mime
    from chalicelib.domain import boleto as boleto_rules
    from chalicelib.domain import nfse as nfse_rules
    from chalicelib.domain.clock import local_day
    from chalicelib.domain.documents import BoletoKind
    from chalicelib.fiscal.dps import sign_dps
    from chalicelib.rendering import danfse, pdf
    from chalicelib.rendering.environment import render_email
    from chalicelib.services import boleto_print, documents
    from chalicelib.storage import keys

    settings = deps.settings
    # Beforehand: what the product already holds or reads once (not an invoice's work).
    invoices = [deps.invoices.invoice_for_period(org, closing) for org in organization_ids]
    organizations = [deps.organizations.get(org) for org in organization_ids]
    certificate = deps.nfse_certificate.certificate()
    layout = documents.boleto_layout(settings)
    today = local_day(deps.clock())
    base = _sequence_base(layout)

    def boleto_request(n: int, sequence: int = None):
        invoice, organization = invoices[n], organizations[n]
        made = boleto_rules.make_boleto(layout, base + n if sequence is None else sequence, invoice.due_date,
                                        invoice.total_cents)
        return made, documents.boleto_request(settings, invoice, made, organization, today)

    def signed_dps(n: int, number: int):
        dps = nfse_rules.dps_for_invoice(invoices[n], organizations[n], settings.nfse_registration,
                                         settings.nfse_terms, environment=settings.nfse_environment,
                                         issued_at=deps.clock(), series=FLOOR_DPS_SERIES)
        return sign_dps(replace(dps, number=number), certificate)

    # The attachments' bytes, drawn once by the product's renderers from a boleto registered and a
    # note emitted for the floor beforehand (numbered apart from the timed ones), as the product
    # draws them: the boleto with the bank's Pix, the DANFSe from the emitter's note.
    parties = ({"name": settings.beneficiary_name, "document": settings.beneficiary_cnpj},
               {"name": organizations[0].name, "document": organizations[0].cnpj})
    made, request = boleto_request(0, sequence=base - 1)
    charge = deps.bank.register(request).pix
    boleto_pdf = pdf.boleto_pdf(boleto_print.pdf_data(
        settings, invoices[0], made, request, BoletoKind.ORIGINAL, charge.emv if charge else None, parties, today,
        pix_expires_on=charge.expires_on if charge else None))
    sample_note = deps.nfse_emitter.emit(*signed_dps(0, 10 ** 9 + invoices[0].number))
    danfse_pdf = danfse.danfse_pdf(sample_note.xml, homologation=True)
    context = {**documents.email_context(deps, invoices[0], organizations[0]), "nfse_follows": False,
               "support": asdict(settings.support)}
    subject, html, text = render_email("invoice_issued", context)
    contracts = [deps.contracts.get(org) for org in organization_ids]

    result = FloorResult(invoices=len(organization_ids), seconds=0.0)
    region = settings.region

    def client(service: str):
        made = boto3.client(service, region_name=region)
        return made if counter is not None else _watch(made, result.calls, result.call_seconds)

    dynamodb, s3, ses = client("dynamodb"), client("s3"), client("sesv2")
    if counter is not None:
        counted_before, seconds_before = Counter(counter.calls), Counter(counter.seconds)
    table, bucket = settings.table_name, settings.documents_bucket
    run = f"{time.time_ns()}"
    start = time.perf_counter()
    for n, organization_id in enumerate(organization_ids):
        invoice = invoices[n]
        pk = {"S": keys.org_pk(organization_id)}
        found = dynamodb.query(TableName=table, ConsistentRead=True,
                               KeyConditionExpression="pk = :p AND sk BETWEEN :first AND :last",
                               ExpressionAttributeValues={":p": pk, ":first": {"S": keys.CONTRACT_SK},
                                                          ":last": {"S": keys.SUBSCRIPTION_PREFIX + "\uffff"}})
        sks = [item["sk"]["S"] for item in found["Items"]]
        subscriptions = sum(1 for sk in sks if sk.startswith(keys.SUBSCRIPTION_PREFIX))
        if keys.CONTRACT_SK not in sks or subscriptions != subscriptions_each:
            raise FloorMissed(f"organisation {organization_id}: contract found {keys.CONTRACT_SK in sks}, "
                              f"{subscriptions} of {subscriptions_each} subscriptions")
        new = "attribute_not_exists(pk)"
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "ConditionExpression": new, "Item": {
                "pk": {"S": f"FLOOR#{run}#{n}"}, "sk": {"S": "INVOICE"}, "organization_id": pk,
                "total_cents": {"N": str(invoice.total_cents)},
                "lines": {"S": json.dumps([[line.description, line.amount_cents] for line in invoice.lines])}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": f"FLOOR#{run}"}, "sk": {"S": "COUNTER"}},
                        "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": table, "ConditionExpression": new, "Item": {
                "pk": pk, "sk": {"S": f"FLOORGUARD#{run}"}}}}])
        at = time.perf_counter()
        made, request = boleto_request(n)
        deps.bank.register(request)
        result.bank_seconds += time.perf_counter() - at
        at = time.perf_counter()
        issued = deps.nfse_emitter.emit(*signed_dps(n, invoice.number))
        result.nfse_seconds += time.perf_counter() - at
        prefix = f"floor/{run}/{n}"
        xml = issued.xml.encode()
        for name, data, content_type in ((f"boleto-{made.nosso_numero}.pdf", boleto_pdf, "application/pdf"),
                                         (f"nfse-{issued.number}.xml", xml, "application/xml"),
                                         (f"nfse-{issued.number}.pdf", danfse_pdf, "application/pdf")):
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=data, ContentType=content_type,
                          ServerSideEncryption="AES256")
        at = time.perf_counter()
        raw = build_mime(settings.mail_sender, OutgoingEmail(
            to=list(contracts[n].billing_contacts), subject=subject, text=text, html=html,
            attachments=[(f"boleto-fatura-{invoice.number}.pdf", "application/pdf", boleto_pdf),
                         (f"nfse-{issued.number}.pdf", "application/pdf", danfse_pdf),
                         (f"nfse-{issued.number}.xml", "application/xml", xml)])).as_bytes()
        result.mime_seconds += time.perf_counter() - at
        ses.send_email(FromEmailAddress=settings.mail_sender,
                       Destination={"ToAddresses": list(contracts[n].billing_contacts)}, Content={"Raw": {"Data": raw}})
    result.seconds = time.perf_counter() - start
    if counter is not None:
        result.calls.update(Counter(counter.calls) - counted_before)
        result.call_seconds.update(Counter(counter.seconds) - seconds_before)
    return result
