"""The operator's receivables: invoices across customers by status and due date, with totals over
the whole filter and the same filter as CSV; and the dispute flag on a contested invoice.

Pages. Without `organization_id` the invoices come from the (status, due date) index, one
partition per status (access pattern 45): a status asked reads its partition between the two due
dates; no status reads what is owed, the overdue partition first and then the open one, each
oldest due first. With `organization_id` they come from that organisation's invoice index with a
filter (pattern 46), by period. The `next_token` names the partition and the index key of the
last invoice answered (base64url JSON `{"p": "overdue", "k": "2026-11-23#<id>"}`, `"p": "org"` for
an organisation): the next page starts right after it, in that partition, and goes on into the
next one. A page is filled across partitions; the index is read one item past the page to know
whether there is more, so a `next_token` always leads to at least one invoice (unless it was
paid or cancelled in between). The totals are read on the first page (no `next_token`), over the
whole filter, and are `null` on the pages after it: a client keeps them from the first.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Protocol, Tuple

from ..domain import error_codes as codes
from ..domain import limits
from ..domain import receivables as rules
from ..domain.billing import STATUSES as INVOICE_STATUSES
from ..domain.billing import Invoice
from ..domain.clock import iso, local_day
from ..domain.errors import NotFound
from ..domain.organizations import Organization
from ..domain.documents import NFSE_REJECTED, NFSE_STATUSES
from ..schemas import array, boolean, cents, enum, integer, nullable, shape, text
from . import audit
from .billing import _SUMMARY_FIELDS, invoice_summary
from .caller import Caller
from .nfse_issuing import BOLETO_FAILURE, NFSE_FAILURE, boleto_failure_view, nfse_failure_view

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import OrganizationRepository
    from .audit import Clocked

    class ReceivablesDeps(Clocked, Protocol):
        """Invoices read through the status and organisation indexes, each with its organisation."""

        invoices: InvoiceRepository
        organizations: OrganizationRepository

    class DisputeDeps(Clocked, Protocol):
        """The flag written on the invoice's version with its audit entry."""

        invoices: InvoiceRepository


NOTE_MIN, NOTE_MAX = limits.DISPUTE_NOTE_MIN, limits.DISPUTE_NOTE_MAX
ORGANIZATION_PARTITION = "org"
NFSE_PARTITION = "nfse"  # `?nfse=rejected`: the refused notes' list, by due date
BOLETO_PARTITION = "boleto"  # `?boleto=rejected`: the refused boletos' list, by due date
_POSITION = re.compile(r"^\d{4}-\d{2}-\d{2}#[A-Za-z0-9_-]{1,64}$")


# --- views --------------------------------------------------------------------------------------

RECEIVABLE = shape(
    "Receivable", description="Uma fatura a receber: o resumo da fatura, o cliente (nome e CNPJ, null se não "
                              "houver), os dias desde o vencimento (0 se no prazo, paga ou cancelada) e se está em "
                              "contestação; a situação da NFS-e e, se recusada, os códigos do emissor; se o "
                              "boleto foi recusado, os motivos (`boleto_failure`).",
    **_SUMMARY_FIELDS, organization_id=text(), organization_name=text(), organization_cnpj=nullable(text()),
    days_overdue=integer(minimum=0), disputed=boolean(), nfse_status=enum(NFSE_STATUSES),
    nfse_failure=nullable(NFSE_FAILURE), boleto_failure=nullable(BOLETO_FAILURE))
_SUM = shape("ReceivablesSum", description="Quantas faturas e o saldo delas, em centavos.",
             count=integer(minimum=0), balance_cents=cents())
AGE_BANDS = shape("ReceivablesByAge", description="As vencidas por dias desde o vencimento: 1–30, 31–60, 61–90 e "
                                                  "mais de 90.",
                  **{name: _SUM for name, _, _ in rules.AGE_BANDS})
TOTALS = shape(
    "ReceivablesTotals", description="Totais sobre TODO o filtro (não só a página): todas as faturas; as em aberto; "
                                     "as vencidas e elas por faixa de atraso. Uma fatura em contestação conta só "
                                     "em `disputed` (e no total geral), nunca em aberto, vencidas ou faixas.",
    count=integer(minimum=0), balance_cents=cents(), open=_SUM, overdue=_SUM, overdue_by_age=AGE_BANDS,
    disputed=_SUM)
RECEIVABLES = shape(
    "Receivables", description="Uma página de faturas a receber; `totals` vem na primeira página (sem `next_token`) "
                               "e é null nas seguintes.",
    items=array(RECEIVABLE), next_token=nullable(text()), totals=nullable(TOTALS))


@dataclass(frozen=True)
class Filter:
    statuses: Tuple[str, ...]  # the partitions, in the order pages come
    due_from: Optional[date]
    due_to: Optional[date]
    organization_id: Optional[str]
    nfse: Optional[str] = None  # "rejected": only invoices whose NFS-e the emitter refused
    boleto: Optional[str] = None  # "rejected": only invoices whose boleto was refused (and not registered since)


def receivables_filter(*, status: Optional[str], due_from: Optional[str], due_to: Optional[str],
                       organization_id: Optional[str], nfse: Optional[str] = None,
                       boleto: Optional[str] = None) -> Filter:
    """`status` is one of the invoice statuses (the route declares them); the dates are parsed here,
    so that 2026-02-30 is refused like a malformed one. With `nfse` ("rejected", the route declares
    it) and no status, every status: a paid invoice still needs its note."""
    start, end = rules.parse_day(due_from, "due_from"), rules.parse_day(due_to, "due_to")
    rules.check_range(start, end)
    default = INVOICE_STATUSES if nfse or boleto else rules.OWED
    return Filter(statuses=(status,) if status else default, due_from=start, due_to=end,
                  organization_id=organization_id or None, nfse=nfse or None, boleto=boleto or None)


def _refused(deps: ReceivablesDeps, found: Filter, after: Optional[str]) -> Iterator[Invoice]:
    """The invoices whose NFS-e stands refused (pattern 51, a handful) in the filter — or whose
    boleto does (`?boleto=rejected`, pattern 53; with both, each invoice must have both) — oldest
    due first, from right after the index key `after` (`<due date>#<id>`)."""
    def key(invoice: Invoice) -> str:
        return deps.invoices.position(invoice, by_organization=False)

    listed = deps.invoices.boleto_rejected() if found.boleto is not None else deps.invoices.nfse_rejected()
    for invoice in sorted(listed, key=key):
        if (found.nfse is not None and invoice.nfse_status != NFSE_REJECTED) or invoice.status not in found.statuses or (after is not None and key(invoice) <= after) \
                or (found.organization_id is not None and invoice.organization_id != found.organization_id) \
                or (found.due_from is not None and invoice.due_date < found.due_from) \
                or (found.due_to is not None and invoice.due_date > found.due_to):
            continue
        yield invoice


def _invoices(deps: ReceivablesDeps, found: Filter,
              start: Optional[Tuple[str, str]] = None) -> Iterator[Tuple[str, Invoice]]:
    """(partition, invoice) in the filter's order, from right after `start` (partition, key)."""
    if found.nfse is not None or found.boleto is not None:
        partition = BOLETO_PARTITION if found.boleto is not None else NFSE_PARTITION
        for invoice in _refused(deps, found, start[1] if start else None):
            yield partition, invoice
        return
    if found.organization_id is not None:
        after = start[1] if start else None
        for invoice in deps.invoices.of_organization_due_between(found.organization_id, found.statuses,
                                                                 found.due_from, found.due_to, after=after):
            yield ORGANIZATION_PARTITION, invoice
        return
    partitions = list(found.statuses)
    if start is not None:
        partitions = partitions[partitions.index(start[0]):]
    for status in partitions:
        after = start[1] if start is not None and status == start[0] else None
        for invoice in deps.invoices.in_status_due_between(status, found.due_from, found.due_to, after=after):
            yield status, invoice


def _encode(partition: str, key: str) -> str:
    raw = json.dumps({"p": partition, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, found: Filter) -> Tuple[str, str]:
    """Only a partition of this filter and an index key of the form the index holds: nothing else
    reaches DynamoDB."""
    try:
        raw = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
        partition, key = raw["p"], raw["k"]
        allowed = (BOLETO_PARTITION,) if found.boleto is not None else (NFSE_PARTITION,) if found.nfse is not None \
            else (ORGANIZATION_PARTITION,) if found.organization_id is not None else found.statuses
        if set(raw) != {"p", "k"} or partition not in allowed or not isinstance(key, str) \
                or not _POSITION.fullmatch(key):
            raise ValueError("not a receivables token")
        if partition != ORGANIZATION_PARTITION:
            # DynamoDB refuses a start key outside the key condition (a 500 if it got there);
            # a token this filter answered always lies inside its due range.
            due = date.fromisoformat(key[:10])
            if (found.due_from and due < found.due_from) or (found.due_to and due > found.due_to):
                raise ValueError("outside the due range")
        return partition, key
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise codes.INVALID_NEXT_TOKEN(field="next_token") from None


class _Organizations:
    """Each organisation read once per request (a customer has many invoices in a long CSV)."""

    def __init__(self, organizations: OrganizationRepository):
        self._organizations = organizations
        self._seen: Dict[str, Optional[Organization]] = {}

    def __call__(self, organization_id: str) -> Optional[Organization]:
        if organization_id not in self._seen:
            try:
                self._seen[organization_id] = self._organizations.get(organization_id)
            except NotFound:  # an invoice outliving its organisation still lists
                self._seen[organization_id] = None
        return self._seen[organization_id]


def _item(invoice: Invoice, organization: Optional[Organization], today: date) -> Dict[str, Any]:
    return {**invoice_summary(invoice), "organization_id": invoice.organization_id,
            "organization_name": organization.name if organization else "",
            "organization_cnpj": organization.cnpj if organization else None,
            "days_overdue": rules.days_past_due(invoice, today), "disputed": invoice.dispute is not None,
            "nfse_status": invoice.nfse_status, "nfse_failure": nfse_failure_view(invoice.nfse_failure),
            "boleto_failure": boleto_failure_view(invoice.boleto_failure)}


# The first page's totals and the CSV read the whole filter: bounded, so that a filter as wide as
# "every paid invoice ever" answers 422 in words instead of timing out (API Gateway's 29 s) or
# passing Lambda's 6 MB answer (a CSV row is about 100 bytes).
MAX_FILTER_INVOICES = 20_000


def _whole(deps: ReceivablesDeps, found: Filter) -> List[Tuple[str, Invoice]]:
    everything = list(islice(_invoices(deps, found), MAX_FILTER_INVOICES + 1))
    if len(everything) > MAX_FILTER_INVOICES:
        raise codes.RECEIVABLES_FILTER_TOO_LARGE(max_invoices=MAX_FILTER_INVOICES)
    return everything


def list_receivables(deps: ReceivablesDeps, found: Filter, *, limit: int,
                     next_token: Optional[str]) -> Dict[str, Any]:
    today = local_day(deps.clock())
    totals = None
    if next_token is None:
        # The first page reads the whole filter once: its totals, and the page from its head.
        everything = _whole(deps, found)
        totals = rules.totals((invoice for _, invoice in everything), today)
        taken = everything[:limit + 1]
    else:
        taken = list(islice(_invoices(deps, found, _decode(next_token, found)), limit + 1))
    page, more = taken[:limit], len(taken) > limit
    token = None
    if more:
        partition, last = page[-1]
        token = _encode(partition, deps.invoices.position(
            last, by_organization=partition == ORGANIZATION_PARTITION))
    organization = _Organizations(deps.organizations)
    return {"items": [_item(invoice, organization(invoice.organization_id), today) for _, invoice in page],
            "next_token": token, "totals": totals}


def receivables_csv(deps: ReceivablesDeps, found: Filter, *, status: Optional[str]) -> Tuple[str, str]:
    """(file name, text): every invoice of the filter, not a page."""
    today = local_day(deps.clock())
    organization = _Organizations(deps.organizations)
    rows: List[rules.Row] = []
    for _, invoice in _whole(deps, found):
        org = organization(invoice.organization_id)
        rows.append(rules.Row(invoice=invoice, organization_name=org.name if org else "",
                              cnpj=org.cnpj if org else None))
    return rules.csv_filename(today, status), rules.csv_text(rows, today)


# --- the dispute flag ---------------------------------------------------------------------------

def _note(text_: str, field: str) -> str:
    """The body schema bounds the length; blanks around and repeated inside do not count."""
    cleaned = " ".join((text_ or "").split())
    if len(cleaned) < NOTE_MIN:
        raise codes.TOO_SHORT(field=field)
    if len(cleaned) > NOTE_MAX:
        raise codes.TOO_LONG(field=field, max_length=NOTE_MAX)
    return cleaned


def open_dispute(deps: DisputeDeps, caller: Caller, invoice_id: str, *, reason: str) -> Dict[str, Any]:
    """Flag an open or overdue invoice as contested: written on the version read, with its audit
    entry, in one transaction (of two flags at once, one is written, the other answers 409)."""
    reason = _note(reason, "reason")
    invoice = deps.invoices.get(invoice_id)  # operators: any organisation's invoice
    flagged = rules.disputed(invoice, reason, caller.user.id, iso(deps.clock()))
    deps.invoices.save(flagged, expected_version=invoice.version, audit=audit.entry(
        deps, caller.actor, invoice.organization_id, "invoice.disputed", f"invoice:{invoice.id}",
        before={"status": invoice.status, "dispute": None},
        after={"status": flagged.status, "dispute": {"reason": reason, "opened_at": flagged.dispute.opened_at}}))
    return invoice_summary(flagged)


def resolve_dispute(deps: DisputeDeps, caller: Caller, invoice_id: str, *, note: str) -> Dict[str, Any]:
    """Clear the flag (the note says how it ended); the next daily run marks the invoice overdue
    if it is past due, and collection resumes."""
    note = _note(note, "note")
    invoice = deps.invoices.get(invoice_id)
    cleared = rules.resolved(invoice)
    deps.invoices.save(cleared, expected_version=invoice.version, audit=audit.entry(
        deps, caller.actor, invoice.organization_id, "invoice.dispute_resolved", f"invoice:{invoice.id}",
        before={"status": invoice.status, "dispute": {"reason": invoice.dispute.reason,
                                                      "opened_at": invoice.dispute.opened_at}},
        after={"status": cleared.status, "dispute": None, "note": note}))
    return invoice_summary(cleared)
