"""Repositories: the only code that reads and writes the table. They speak domain values.

Writes that change state go in one DynamoDB transaction with their audit entry, so an action
and its record in the trail exist together or not at all.
"""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from ..domain import contract as contract_rules
from ..domain import error_codes as codes
from ..domain import webhooks as webhook_rules
from ..domain.audit import AuditEntry
from ..domain.catalog import PricePoint, Product
from ..domain.clock import iso
from ..domain.contract import Contract, ContractItem as ContractLine, ScheduledChange
from ..domain.errors import AuditOverwriteRefused  # noqa: F401 - callers catch it from here
from ..domain.addresses import Address
from ..domain.errors import DomainError
from ..domain.organizations import Organization
from ..domain.roles import parse_roles
from ..domain.users import User
from . import keys
from .models import (
    AddressMap,
    AuditItem,
    CnpjGuardItem,
    ContractItem,
    ContractItemMap,
    EmailDeliveryItem,
    IdempotencyItem,
    MarkerItem,
    OrganizationItem,
    PricePointMap,
    ProductItem,
    ScheduledChangeMap,
    UserItem,
    WebhookEventItem,
)

Page = Tuple[List[Any], Optional[str]]


# --- pagination tokens -------------------------------------------------------------------------

def encode_token(last_key: Optional[Dict[str, Any]]) -> Optional[str]:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: Optional[str], expected_partition: Tuple[str, str]) -> Optional[Dict[str, Any]]:
    """The start key of a page, refusing tokens that are malformed or point at another partition."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        attribute, value = expected_partition
        if key[attribute]["S"] != value:
            raise ValueError("foreign partition")
        # Exactly the table's and the index's key attributes, all strings: nothing else reaches DynamoDB.
        index_keys = {attribute, attribute[:-2] + "sk"} if attribute in ("gsi1pk", "gsi2pk") else set()
        expected = {"pk", "sk"} | index_keys
        if set(key) != expected or not all(set(v) == {"S"} and isinstance(v["S"], str) for v in key.values()):
            raise ValueError("malformed key")
        return key
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise codes.INVALID_NEXT_TOKEN(field="next_token")


def _page(results, limit: int) -> Page:
    items = list(results)
    token = encode_token(results.last_evaluated_key) if len(items) >= limit else None
    return items, token


# --- converters ---------------------------------------------------------------------------------

def _audit_item(entry: AuditEntry) -> AuditItem:
    return AuditItem(
        keys.audit_pk(entry.organization_id), keys.audit_sk(entry.at, entry.id),
        id=entry.id, organization_id=entry.organization_id, at=entry.at, actor_id=entry.actor_id,
        actor_email=entry.actor_email, action=entry.action, target=entry.target,
        before=entry.before, after=entry.after, source_ip=entry.source_ip,
    )


def _audit_entry(item: AuditItem) -> AuditEntry:
    return AuditEntry(
        id=item.id, organization_id=item.organization_id, at=item.at, actor_id=item.actor_id,
        actor_email=item.actor_email, action=item.action, target=item.target,
        before=item.before, after=item.after, source_ip=item.source_ip,
    )


def _user_item(user: User) -> UserItem:
    return UserItem(
        keys.user_pk(user.id), keys.USER_SK,
        gsi1pk=keys.org_users_pk(user.organization_id), gsi1sk=keys.user_email_sk(user.email),
        id=user.id, organization_id=user.organization_id, email=user.email, name=user.name,
        roles={r.value for r in user.roles}, status=user.status, created_at=user.created_at,
        version=user.version, mfa_enrolled_at=user.mfa_enrolled_at,
    )


def ended_sessions_of(item: UserItem) -> Dict[str, int]:
    """The logged-out sessions kept on a user item ("<origin_jti> <expiry epoch>"), by origin_jti."""
    ended = {}
    for entry in item.ended_sessions or ():
        jti, _, until = entry.rpartition(" ")
        if jti and until.isdigit():
            ended[jti] = int(until)
    return ended


def _user(item: UserItem) -> User:
    return User(
        id=item.id, organization_id=item.organization_id, email=item.email, name=item.name,
        roles=parse_roles(item.roles), status=item.status, created_at=item.created_at,
        version=int(item.version), sessions_valid_after=item.sessions_valid_after,
        ended_sessions=ended_sessions_of(item), mfa_enrolled_at=item.mfa_enrolled_at,
    )


LEGACY_READ_THREADS = 8  # a month run before the backfill: 28 unsharded partitions, a few at a time


def _each_day(read: Callable[[int], List[str]], days: List[int]) -> List[List[str]]:
    if len(days) == 1:
        return [read(days[0])]
    with ThreadPoolExecutor(max_workers=min(LEGACY_READ_THREADS, len(days))) as pool:
        return list(pool.map(read, days))


def _contract_item(contract: Contract) -> ContractItem:
    # A contract stays in its closing day's index while it has something left to bill.
    billable = contract.status in (contract_rules.ACTIVE, contract_rules.TERMINATING) or contract.final_invoice_due
    # In its shard, sorted by its day (issue #22 §4): contracts spread over keys.CLOSING_SHARDS partitions.
    closing = {"gsi1pk": keys.closing_shard_pk(keys.closing_shard(contract.organization_id)),
               "gsi1sk": keys.closing_sk(contract.closing_day, contract.organization_id)} if billable else {}
    # A terminated contract waits in the retention index until its personal data is anonymised.
    retained = contract.status == contract_rules.TERMINATED and contract.terminated_at and not contract.anonymised_at
    retention = {"gsi2pk": keys.RETENTION_PK,
                 "gsi2sk": keys.retention_sk(contract.terminated_at, contract.organization_id)} if retained else {}
    return ContractItem(
        keys.org_pk(contract.organization_id), keys.CONTRACT_SK, **closing, **retention,
        id=contract.id, organization_id=contract.organization_id, status=contract.status,
        payment_method=contract.payment_method, closing_day=contract.closing_day,
        billing_contacts=list(contract.billing_contacts),
        items=[ContractItemMap(sku=i.sku, name=i.name, quantity=i.quantity) for i in contract.items],
        accepted_at=contract.accepted_at, accepted_by=contract.accepted_by,
        accepted_from_ip=contract.accepted_from_ip, accepted_version=contract.accepted_version,
        terminated_at=contract.terminated_at, final_invoice_due=contract.final_invoice_due,
        version=contract.version,
        scheduled_change=None if contract.scheduled_change is None else ScheduledChangeMap(
            payment_method=contract.scheduled_change.payment_method,
            closing_day=contract.scheduled_change.closing_day,
            effective_from=contract.scheduled_change.effective_from.isoformat()),
        terms_from=contract.terms_from.isoformat() if contract.terms_from else None,
        anonymised_at=contract.anonymised_at, dunning_override=contract.dunning_override,
    )


def _contract(item: ContractItem) -> Contract:
    return Contract(
        id=item.id, organization_id=item.organization_id, status=item.status,
        payment_method=item.payment_method, closing_day=int(item.closing_day),
        billing_contacts=list(item.billing_contacts or []),
        items=[ContractLine(sku=i.sku, name=i.name, quantity=int(i.quantity)) for i in (item.items or [])],
        accepted_at=item.accepted_at, accepted_by=item.accepted_by,
        accepted_from_ip=item.accepted_from_ip, accepted_version=item.accepted_version,
        terminated_at=item.terminated_at, final_invoice_due=bool(item.final_invoice_due),
        version=int(item.version),
        scheduled_change=None if item.scheduled_change is None else ScheduledChange(
            payment_method=item.scheduled_change.payment_method,
            closing_day=int(item.scheduled_change.closing_day),
            effective_from=date.fromisoformat(item.scheduled_change.effective_from)),
        terms_from=date.fromisoformat(item.terms_from) if item.terms_from else None,
        anonymised_at=item.anonymised_at, dunning_override=item.dunning_override,
    )


def _organization(item: OrganizationItem) -> Organization:
    # Items written before the address and the version were kept have neither: no address, version 1.
    address = item.address
    return Organization(id=item.id, name=item.name, cnpj=item.cnpj, tenant_domain=item.tenant_domain,
                        masters_count=int(item.masters_count), created_at=item.created_at,
                        address=Address(cep=address.cep, street=address.street, number=address.number,
                                        district=address.district, city_code=address.city_code, city=address.city,
                                        state=address.state, complement=address.complement)
                        if address is not None else None,
                        version=int(item.version) if item.version is not None else 1,
                        existing_microsoft_customer=bool(item.existing_microsoft_customer)
                        if item.existing_microsoft_customer is not None else item.tenant_domain is not None,
                        microsoft_customer_id=item.microsoft_customer_id)


def _address_map(address: Optional[Address]) -> Optional[AddressMap]:
    if address is None:
        return None
    return AddressMap(cep=address.cep, street=address.street, number=address.number, complement=address.complement,
                      district=address.district, city_code=address.city_code, city=address.city,
                      state=address.state)


def _product(item: ProductItem) -> Product:
    prices = sorted((PricePoint(date.fromisoformat(p.effective_from), int(p.unit_price_cents)) for p in item.prices),
                    key=lambda p: p.effective_from)
    return Product(sku=item.sku, name=item.name, family=item.family, term=item.term,
                   billing_frequency=item.billing_frequency, active=item.active,
                   prices=tuple(prices), offer_id=item.offer_id,
                   min_quantity=int(item.min_quantity) if item.min_quantity is not None else 1,
                   max_quantity=int(item.max_quantity) if item.max_quantity is not None else None)


def _product_item(product: Product) -> ProductItem:
    return ProductItem(keys.CATALOG_PK, keys.product_sk(product.sku), sku=product.sku, name=product.name,
                       family=product.family, term=product.term, billing_frequency=product.billing_frequency,
                       active=product.active, offer_id=product.offer_id,
                       min_quantity=product.min_quantity, max_quantity=product.max_quantity,
                       prices=[PricePointMap(effective_from=p.effective_from.isoformat(),
                                             unit_price_cents=p.unit_price_cents) for p in product.prices])


def _is_condition_failure(exc: Exception) -> bool:
    return "ConditionalCheckFailed" in (getattr(exc, "cause_response_code", "") or "") or \
        "ConditionalCheckFailed" in str(exc)


class _LabelledWrite:
    """TransactWrite that remembers a label per item, in the order DynamoDB reports failures
    (PynamoDB sends condition checks, then deletes, then puts, then updates)."""

    def __init__(self, tx: TransactWrite):
        self._tx = tx
        self._labels = {"check": [], "delete": [], "put": [], "update": []}

    def save(self, model, condition=None, label: str = "item", return_values: Optional[str] = None):
        self._labels["put"].append(label)
        self._tx.save(model, condition=condition, return_values=return_values)

    def update(self, model, actions, condition=None, label: str = "item"):
        self._labels["update"].append(label)
        self._tx.update(model, actions=actions, condition=condition)

    def delete(self, model, condition=None, label: str = "item"):
        self._labels["delete"].append(label)
        self._tx.delete(model, condition=condition)

    def check(self, model_cls, hash_key, range_key, condition, label: str = "item"):
        """A condition on an item the transaction does not write (the invoice a step is about)."""
        self._labels["check"].append(label)
        self._tx.condition_check(model_cls, hash_key, range_key=range_key, condition=condition)

    def labels(self) -> List[str]:
        return self._labels["check"] + self._labels["delete"] + self._labels["put"] + self._labels["update"]


def table_marked(pk: str, sk: str) -> bool:
    """Whether the table carries one of its markers (a fact written once by a backfill, or at the
    table's creation: keys.*_MARKER_*). Consistent."""
    try:
        MarkerItem.get(pk, sk, consistent_read=True)
        return True
    except DoesNotExist:
        return False


def mark_table(pk: str, sk: str, at: str) -> None:
    MarkerItem(pk, sk, at=at).save()


class Transaction:
    """A DynamoDB transaction over the table, with the audit entry written beside the change.

    When a condition fails, `on_conflict` names the error: an error, or a function of the labels
    of the items whose conditions failed.
    """

    def __init__(self, connection: Connection):
        self._connection = connection

    def run(self, build, *, on_conflict, on_returned: Optional[Callable[[Dict[str, dict]], None]] = None) -> None:
        """`on_returned`: told, before the conflict is raised, the labels of the writes whose
        condition failed, each with the item as it stood when the write asked for it
        (`return_values="ALL_OLD"`; raw DynamoDB JSON, None if absent or not asked for): what
        the caller would otherwise read again."""
        labelled = None
        try:
            with TransactWrite(connection=self._connection) as tx:
                labelled = _LabelledWrite(tx)
                build(labelled)
        except TransactWriteError as exc:
            reasons = list(getattr(exc, "cancellation_reasons", None) or [])
            labels = labelled.labels() if labelled else []
            failed = {labels[i] if i < len(labels) else "item"
                      for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"}
            if failed:
                if on_returned is not None:
                    on_returned({labels[i]: r.raw_item for i, r in enumerate(reasons)
                                 if i < len(labels) and r is not None and r.code == "ConditionalCheckFailed"})
                raise (on_conflict(failed) if callable(on_conflict) else on_conflict) from exc
            if any(r is not None and r.code == "TransactionConflict" for r in reasons) or \
                    exc.cause_response_code == "TransactionConflictException":
                # Another transaction touched the same items at the same moment: retryable.
                raise codes.CONCURRENT_UPDATE() from exc
            raise


class _CountingTransaction:
    """Stands for a TransactWrite in a dry build: every action (save, update, delete, condition
    check) is counted, nothing is written."""

    def __init__(self):
        self.actions = 0

    def __getattr__(self, name):
        def action(*args, **kwargs):
            self.actions += 1
        return action


def count_actions(build: Callable[[Any], None]) -> int:
    """How many actions `build(tx)` puts in its transaction (DynamoDB takes at most 100)."""
    tx = _CountingTransaction()
    build(tx)
    return tx.actions


def append_audit(tx, entry: AuditEntry, subjects: Optional[Dict[str, dict]] = None) -> None:
    """The entry, and (webhooks, issue #21 §3) the events it reports in the outbox, in the same
    transaction: an event exists exactly when its change does. `subjects`: the objects written
    with the entry, by id, as their events show them (domain/webhooks.py)."""
    tx.save(_audit_item(entry), condition=AuditItem.pk.does_not_exist(), label="audit")
    events = webhook_rules.events_for(entry, subjects)
    if events:  # ONE outbox item per entry, however many events it reports (a cart of 25 lines)
        tx.save(_event_item(events), condition=WebhookEventItem.pk.does_not_exist(), label="audit")


def _event_item(events) -> "WebhookEventItem":
    """The events of one audit entry in the outbox (pattern 63), as ONE item (a transaction holds
    at most 100 actions), pending until the dispatcher fans each out under its own stable id. The
    item is named by its first event; `events` lists them all."""
    first = events[0]
    return WebhookEventItem(keys.event_pk(first.id), keys.EVENT_SK, gsi1pk=keys.PENDING_EVENTS_PK,
                            gsi1sk=keys.created_sk(first.created_at, first.id), id=first.id,
                            organization_id=first.organization_id, type=first.type, created_at=first.created_at,
                            payload=first.body(),
                            events=json.dumps([{"id": e.id, "type": e.type, "payload": e.body()} for e in events],
                                              ensure_ascii=False, separators=(",", ":")))


# --- repositories -------------------------------------------------------------------------------

class AuditRepository:
    """The append-only trail: `append` and `list`, nothing that edits or deletes."""

    def append(self, entry: AuditEntry) -> None:
        events = webhook_rules.events_for(entry)
        if events:  # webhooks: the entry and its events together (none of today's callers makes one)
            with TransactWrite(connection=Connection(region=AuditItem.Meta.region)) as tx:
                tx.save(_audit_item(entry), condition=AuditItem.pk.does_not_exist())
                tx.save(_event_item(events), condition=WebhookEventItem.pk.does_not_exist())
            return
        try:
            _audit_item(entry).save(condition=AuditItem.pk.does_not_exist())
        except PutError as exc:
            if _is_condition_failure(exc):
                raise codes.AUDIT_OVERWRITE_REFUSED() from exc
            raise

    def list(self, organization_id: str, *, since: str, until: str, limit: int,
             next_token: Optional[str]) -> Tuple[List[AuditEntry], Optional[str]]:
        pk = keys.audit_pk(organization_id)
        lower, upper = keys.audit_range(since, until)
        results = AuditItem.query(
            pk, AuditItem.sk.between(lower, upper), limit=limit, scan_index_forward=False,
            last_evaluated_key=decode_token(next_token, ("pk", pk)),
        )
        items, token = _page(results, limit)
        return [_audit_entry(i) for i in items], token


class UserRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def get(self, user_id: str) -> Optional[User]:
        try:
            return _user(UserItem.get(keys.user_pk(user_id), keys.USER_SK, consistent_read=True))
        except DoesNotExist:
            return None

    def get_in_organization(self, organization_id: str, user_id: str) -> User:
        """A user of this organisation; another organisation's user is simply not found."""
        user = self.get(user_id)
        if user is None or user.organization_id != organization_id:
            raise codes.USER_NOT_FOUND()
        return user

    def list(self, organization_id: str, *, limit: int, next_token: Optional[str]) -> Page:
        gpk = keys.org_users_pk(organization_id)
        results = UserItem.by_organization.query(
            gpk, limit=limit, last_evaluated_key=decode_token(next_token, ("gsi1pk", gpk)),
        )
        items, token = _page(results, limit)
        return [_user(i) for i in items], token

    def in_organization_by_email(self, organization_id: str, email: str) -> Optional[User]:
        """The organisation's user with this (normalised) email, if any (access pattern 37)."""
        found = UserItem.by_organization.query(keys.org_users_pk(organization_id),
                                               UserItem.gsi1sk == keys.user_email_sk(email), limit=1)
        return next((_user(item) for item in found), None)

    def create(self, user: User, audit: AuditEntry) -> None:
        def build(tx):
            tx.save(_user_item(user), condition=UserItem.pk.does_not_exist())
            _change_masters(tx, user.organization_id, +1 if user.is_master else 0)
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.USER_EXISTS())

    def save_roles(self, user: User, expected_version: int, masters_delta: int, audit: AuditEntry) -> None:
        def build(tx):
            # An update of what changes, not a put of the whole item: the user's sessions
            # (storage/sessions.py) change beside it and must not be written back as they were read.
            tx.update(UserItem(keys.user_pk(user.id), keys.USER_SK),
                      actions=[UserItem.roles.set({r.value for r in user.roles}), UserItem.version.set(user.version)],
                      condition=UserItem.version == expected_version, label="user")
            _change_masters(tx, user.organization_id, masters_delta)
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=_version_or_master_conflict(masters_delta))

    def activate(self, user: User) -> None:
        """First password set: invited → active. Repeat-safe."""
        UserItem(keys.user_pk(user.id), keys.USER_SK).update(
            actions=[UserItem.status.set("active"), UserItem.version.add(1)], condition=UserItem.pk.exists(),
        )

    def save_mfa(self, user: User, expected_version: int, audit: AuditEntry) -> None:
        """The user's MFA enrolment (`user.mfa_enrolled_at`, None after a reset), on the version read,
        with its audit entry; a reset also ends every session started before it
        (`user.sessions_valid_after`, as a password change does)."""
        item = UserItem(keys.user_pk(user.id), keys.USER_SK)
        actions = [UserItem.mfa_enrolled_at.set(user.mfa_enrolled_at) if user.mfa_enrolled_at
                   else UserItem.mfa_enrolled_at.remove(), UserItem.version.set(user.version)]
        if user.sessions_valid_after:
            actions.append(UserItem.sessions_valid_after.set(user.sessions_valid_after))

        def build(tx):
            tx.update(item, actions=actions,
                      condition=UserItem.version == expected_version, label="user")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.VERSION_CONFLICT())

    def delete(self, user: User, masters_delta: int, audit: AuditEntry) -> None:
        def build(tx):
            tx.delete(UserItem(keys.user_pk(user.id), keys.USER_SK), condition=UserItem.version == user.version,
                      label="user")
            _change_masters(tx, user.organization_id, masters_delta)
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=_version_or_master_conflict(masters_delta))


def _version_or_master_conflict(masters_delta: int):
    def conflict(failed) -> DomainError:
        if masters_delta < 0 and "masters" in failed and "user" not in failed:
            return codes.LAST_MASTER()
        return codes.VERSION_CONFLICT()
    return conflict


def _change_masters(tx, organization_id: str, delta: int) -> None:
    """Move the Master count in the same transaction; never let it fall below one."""
    if delta == 0:
        return
    org = OrganizationItem(keys.org_pk(organization_id), keys.ORGANIZATION_SK)
    condition = OrganizationItem.pk.exists()
    if delta < 0:
        condition &= OrganizationItem.masters_count > -delta
    tx.update(org, actions=[OrganizationItem.masters_count.add(delta)], condition=condition, label="masters")


class OrganizationRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def get(self, organization_id: str) -> Organization:
        try:
            return _organization(OrganizationItem.get(keys.org_pk(organization_id), keys.ORGANIZATION_SK))
        except DoesNotExist:
            raise codes.ORGANIZATION_NOT_FOUND()

    def list(self, *, limit: int, next_token: Optional[str]) -> Page:
        results = OrganizationItem.by_name.query(
            keys.ORGANIZATIONS_INDEX_PK, limit=limit,
            last_evaluated_key=decode_token(next_token, ("gsi1pk", keys.ORGANIZATIONS_INDEX_PK)),
        )
        items, token = _page(results, limit)
        return [_organization(i) for i in items], token

    def create(self, organization: Organization, contract: Optional[Contract], master: Optional[User],
               audit: Sequence[AuditEntry]) -> None:
        """Organisation, its contract and first Master, all or nothing."""
        masters = 1 if master is not None and master.is_master else 0

        def build(tx):
            tx.save(OrganizationItem(
                keys.org_pk(organization.id), keys.ORGANIZATION_SK,
                gsi1pk=keys.ORGANIZATIONS_INDEX_PK, gsi1sk=keys.org_name_sk(organization.name, organization.id),
                id=organization.id, name=organization.name, cnpj=organization.cnpj,
                tenant_domain=organization.tenant_domain, masters_count=masters,
                created_at=organization.created_at, address=_address_map(organization.address),
                version=organization.version, existing_microsoft_customer=organization.existing_microsoft_customer,
                microsoft_customer_id=organization.microsoft_customer_id,
            ), condition=OrganizationItem.pk.does_not_exist(), label="organization")
            if organization.cnpj:
                tx.save(CnpjGuardItem(keys.cnpj_pk(organization.cnpj), keys.CNPJ_SK, organization_id=organization.id),
                        condition=CnpjGuardItem.pk.does_not_exist(), label="cnpj")
            if contract is not None:
                tx.save(_contract_item(contract), condition=ContractItem.pk.does_not_exist())
            if master is not None:
                tx.save(_user_item(master), condition=UserItem.pk.does_not_exist())
            for entry in audit:
                append_audit(tx, entry)

        def conflict(failed):
            if "cnpj" in failed:
                return codes.CNPJ_IN_USE(field="cnpj")
            return codes.ORGANIZATION_EXISTS()

        self._tx.run(build, on_conflict=conflict)

    def save_address(self, organization: Organization, expected_version: int, audit: AuditEntry) -> None:
        """The organisation's address (`organization.address`) and version, on the version read, with
        its audit entry (pattern 1's item): two edits from the same picture cannot both pass."""
        # An item from before the version was kept has none: version 1 is its absence.
        seen = OrganizationItem.version == expected_version
        if expected_version == 1:
            seen |= OrganizationItem.version.does_not_exist()

        def build(tx):
            tx.update(OrganizationItem(keys.org_pk(organization.id), keys.ORGANIZATION_SK),
                      actions=[OrganizationItem.address.set(_address_map(organization.address)),
                               OrganizationItem.version.set(organization.version)],
                      condition=OrganizationItem.pk.exists() & seen, label="organization")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.VERSION_CONFLICT())

    def link_microsoft_customer(self, organization_id: str, customer_id: str, audit: AuditEntry) -> bool:
        """Record the organisation's customer id at the licence provider, with its audit entry, only
        if none is recorded yet (pattern 1's item; not its `version`, which is the customer's own
        edits'). False when another worker recorded one first: read it again."""
        def build(tx):
            tx.update(OrganizationItem(keys.org_pk(organization_id), keys.ORGANIZATION_SK),
                      actions=[OrganizationItem.microsoft_customer_id.set(customer_id)],
                      condition=OrganizationItem.pk.exists() & OrganizationItem.microsoft_customer_id.does_not_exist(),
                      label="organization")
            append_audit(tx, audit)

        try:
            self._tx.run(build, on_conflict=codes.CONCURRENT_UPDATE())
        except DomainError as exc:
            if exc.code != codes.CONCURRENT_UPDATE.code:
                raise
            return False
        return True


class ContractRepository:
    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def find(self, organization_id: str) -> Optional[Contract]:
        """The organisation's contract, or None (the reseller's own organisation has none)."""
        try:
            return _contract(ContractItem.get(keys.org_pk(organization_id), keys.CONTRACT_SK,
                                              consistent_read=True))
        except DoesNotExist:
            return None

    def get(self, organization_id: str) -> Contract:
        try:
            return _contract(ContractItem.get(keys.org_pk(organization_id), keys.CONTRACT_SK,
                                              consistent_read=True))
        except DoesNotExist:
            raise codes.CONTRACT_NOT_FOUND()

    @staticmethod
    def closing_shards() -> List[Any]:
        """The shards of the closing-day index a run queues a message for."""
        return keys.closing_shards()

    def billable_in_shard(self, shard: int, days: Sequence[int]) -> List[Tuple[int, str]]:
        """(closing day, organisation) of every contract of one shard that closes on one of `days`
        and has something to bill (pattern 18), every page, each once. One day: one
        `begins_with(<dd>#)` query; more (an operator's month run): the shard's whole partition, one
        query. Until the backfill has moved them all (its marker), the contracts written before the
        shards are read FIRST from each day's unsharded partition, keeping this shard's, then the
        shard: a contract moved between the two reads is read twice and kept once, never missed.
        Only the ids and sort keys are read back (the index projects the whole contract)."""
        partition = keys.closing_shard_pk(shard)  # raises on a shard out of range, before any read
        wanted = list(dict.fromkeys(days))
        if not wanted:
            return []
        older = [] if self.unsharded_closing_moved() else [
            (day, org) for day, orgs in zip(wanted, _each_day(self.in_legacy_closing, wanted))
            for org in orgs if keys.closing_shard(org) == shard]
        one_day = ContractItem.gsi1sk.startswith(keys.closing_day_prefix(wanted[0])) if len(wanted) == 1 else None
        own = [(keys.day_of_closing_sk(i.gsi1sk), i.organization_id) for i in ContractItem.by_closing_day.query(
            partition, one_day, attributes_to_get=["organization_id", "gsi1sk"])]
        return list(dict.fromkeys(older + [(day, org) for day, org in own if day in wanted]))

    @staticmethod
    def in_legacy_closing(day: int) -> List[str]:
        """The organisations whose contract is still in `day`'s unsharded partition (the backfill's
        work list: a moved contract leaves it, so a rerun sees only what is left)."""
        return [i.organization_id for i in ContractItem.by_closing_day.query(
            keys.legacy_closing_pk(day), attributes_to_get=["organization_id"])]

    @staticmethod
    def unsharded_closing_moved() -> bool:
        """True once no contract is left in the unsharded partitions (the backfill's marker): the
        runs stop reading them. One consistent read per shard message."""
        return table_marked(keys.CLOSING_INDEX_MARKER_PK, keys.CLOSING_INDEX_MARKER_SK)

    @staticmethod
    def mark_unsharded_closing_moved(at: str) -> None:
        mark_table(keys.CLOSING_INDEX_MARKER_PK, keys.CLOSING_INDEX_MARKER_SK, at)

    def move_to_shard(self, organization_id: str, day: int) -> bool:
        """Move a contract from `day`'s unsharded partition to its shard (the backfill): only the
        index keys, on the condition that it still is in that partition — a contract that left the
        index meanwhile, or was saved since (which writes its shard), is not touched. Its `version`
        does not move: a form open on the contract saves as before. False: nothing to move."""
        try:
            ContractItem(keys.org_pk(organization_id), keys.CONTRACT_SK).update(
                actions=[ContractItem.gsi1pk.set(keys.closing_shard_pk(keys.closing_shard(organization_id))),
                         ContractItem.gsi1sk.set(keys.closing_sk(day, organization_id))],
                condition=ContractItem.gsi1pk == keys.legacy_closing_pk(day))
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def save(self, contract: Contract, expected_version: int, audit: AuditEntry,
             also: Optional[Callable[[Any], None]] = None) -> None:
        """`also` adds writes to the same transaction (a change of billing contacts lifting the
        suppressions of the removed ones: storage/suppressions.add_lift); a failed condition of
        theirs (labelled "suppression") is a concurrent update, the contract's a version conflict."""
        def build(tx):
            tx.save(_contract_item(contract), condition=ContractItem.version == expected_version, label="contract")
            append_audit(tx, audit)
            if also is not None:
                also(tx)

        self._tx.run(build, on_conflict=lambda labels: codes.VERSION_CONFLICT() if "contract" in labels
                     else codes.CONCURRENT_UPDATE() if "suppression" in labels else codes.VERSION_CONFLICT())


class CatalogRepository:
    """The product catalog, with each product's price history: one small partition, read whole.

    It is kept in the process for a minute (the licence panel needs prices on every request), and
    read again when asked for a later São Paulo day than the one it was read for: a price takes
    effect the day after it is set, so a catalog read today knows every price in force today and
    on any earlier day — a billing run reads it once, not once per contract. A change made here is seen at once; one made by another
    process shows within `ttl_seconds`, and only for prices from tomorrow on."""

    def __init__(self, ttl_seconds: float = 60.0, transaction: Optional[Transaction] = None):
        self._ttl = ttl_seconds
        self._tx = transaction
        self._cached: Optional[Tuple[float, Optional[date], List[Product]]] = None

    def list(self, today: Optional[date] = None) -> List[Product]:
        """Every product. Pass `today` (São Paulo) when prices will be read: a catalog read on an
        earlier day is read again."""
        import time

        now = time.monotonic()
        stale = self._cached is None or now - self._cached[0] > self._ttl or \
            (today is not None and (self._cached[1] is None or self._cached[1] < today))
        if stale:
            products = [_product(i) for i in
                        ProductItem.query(keys.CATALOG_PK, ProductItem.sk.startswith(keys.PRODUCT_PREFIX))]
            self._cached = (now, today, products)
        return list(self._cached[2])

    def by_sku(self, today: Optional[date] = None) -> Dict[str, Product]:
        return {p.sku: p for p in self.list(today)}

    def get(self, sku: str) -> Optional[Product]:
        try:
            return _product(ProductItem.get(keys.CATALOG_PK, keys.product_sk(sku)))
        except DoesNotExist:
            return None

    def put(self, product: Product) -> None:
        """Write a product as is, unaudited (the seed, tests): the operators' edits go through `save`."""
        _product_item(product).save()
        self._cached = None

    def save(self, product: Product, *, previous: Optional[Product], audit: AuditEntry) -> None:
        """The product, its prices and its audit entry in one transaction, on the product as it was
        read (`previous`, None for a new SKU): two edits at once cannot both pass, and the trail's
        `before` is what the edit replaced."""
        def build(tx):
            item = _product_item(product)
            if previous is None:
                condition = ProductItem.pk.does_not_exist()
            else:
                read = _product_item(previous)
                condition = (ProductItem.prices == read.prices) & (ProductItem.name == read.name) & \
                    (ProductItem.family == read.family) & (ProductItem.term == read.term) & \
                    (ProductItem.billing_frequency == read.billing_frequency) & (ProductItem.active == read.active)
                condition &= ProductItem.offer_id.does_not_exist() if previous.offer_id is None \
                    else ProductItem.offer_id == previous.offer_id
                # Limits as read (#21 §4); an item written before them has neither (minimum 1, no maximum).
                condition &= (ProductItem.min_quantity == previous.min_quantity) | \
                    ProductItem.min_quantity.does_not_exist() if previous.min_quantity == 1 \
                    else ProductItem.min_quantity == previous.min_quantity
                condition &= ProductItem.max_quantity.does_not_exist() if previous.max_quantity is None \
                    else ProductItem.max_quantity == previous.max_quantity
            tx.save(item, condition=condition, label="product")
            append_audit(tx, audit)

        try:
            self._tx.run(build, on_conflict=codes.CONCURRENT_UPDATE())
        finally:
            self._cached = None


class IdempotencyStore:
    """Request idempotency as a conditional write on (scope, key); powertools' shape."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"

    def claim(self, scope: str, key: str, request_hash: str, now, in_progress_until) -> Optional[IdempotencyItem]:
        """Claim the key; returns None when claimed now, else the live record found.

        A record past its expiry (a finished one after a day, an abandoned in-progress one after a
        few minutes: a crashed Lambda) counts as absent, whatever TTL deletion has done yet.
        """
        claim_id = uuid.uuid4().hex
        item = IdempotencyItem(keys.idempotency_pk(scope), keys.idempotency_sk(key), status=self.IN_PROGRESS,
                               request_hash=request_hash, expires_at=in_progress_until, claim_id=claim_id)
        try:
            item.save(condition=IdempotencyItem.pk.does_not_exist() | (IdempotencyItem.expires_at < now))
            return None
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise
        try:
            found = IdempotencyItem.get(keys.idempotency_pk(scope), keys.idempotency_sk(key), consistent_read=True)
        except DoesNotExist:  # released between our write and this read: the caller may retry
            return IdempotencyItem(status=self.IN_PROGRESS, request_hash=request_hash)
        # Our own write, applied by an attempt whose answer was lost (a reset connection, a 500)
        # and refused on botocore's retry: the claim is ours, not another request's.
        return None if found.claim_id == claim_id else found

    def complete(self, scope: str, key: str, status: int, body: Any, expires_at) -> None:
        IdempotencyItem(keys.idempotency_pk(scope), keys.idempotency_sk(key)).update(actions=[
            IdempotencyItem.status.set(self.COMPLETED),
            IdempotencyItem.response_status.set(status),
            IdempotencyItem.response_body.set(body),
            IdempotencyItem.expires_at.set(expires_at),
        ])

    def release(self, scope: str, key: str) -> None:
        """The first attempt failed: let a retry with the same key run again."""
        IdempotencyItem(keys.idempotency_pk(scope), keys.idempotency_sk(key)).delete()


class BatchNotClaimed(Exception):
    """A batch of emails could not be claimed at once (`EmailDeliveries.claim_all`): nothing was written."""


@dataclass(frozen=True)
class FinishedDelivery:
    """An email of a batch sent (SENT, with SES's message id) or failed for good (FAILED)."""

    delivery_key: str
    status: str
    claimed_at: str
    at: str
    remember_until: Any
    message_id: Optional[str] = None


class EmailDeliveries:
    """At most one worker sends an email at a time, and a sent email is never sent again.

    A claim is "sending" until `sending_until`: a worker killed between its claim and the mail
    server's answer (a Lambda timeout, say) leaves a claim that the next delivery of the message
    takes over once it has expired, so the email is neither lost nor sent by two workers at once."""

    CLAIMED, SENDING, SENT, FAILED = "claimed", "sending", "sent", "failed"
    # Not sent: every recipient was suppressed (a hard bounce, a complaint: services/notifications.py).
    SUPPRESSED = "suppressed"

    def __init__(self, transaction: Optional[Transaction] = None):
        # The email worker's batch claim (issue #22 §5) is a transaction over the table.
        self._tx = transaction

    def claim_all(self, delivery_keys: Sequence[str], now, sending_until, also: Callable[[Any], None]) -> None:
        """Pattern 10 for a whole batch of emails in ONE transaction (issue #22 §5): each delivery
        claimed as `claim` does (absent, or a claim abandoned past its expiry), with what `also` adds
        (the recipients' suppression checks, storage/suppressions.add_not_suppressed). All claimed,
        or nothing written and BatchNotClaimed raised (a condition failed: an email sent or being
        sent, a suppressed recipient); another failure of the transaction raises as it comes."""
        abandoned = (EmailDeliveryItem.status == self.SENDING) & (EmailDeliveryItem.expires_at < now)

        def build(tx):
            for key in delivery_keys:
                tx.save(EmailDeliveryItem(keys.email_delivery_pk(key), keys.EMAIL_DELIVERY_SK, status=self.SENDING,
                                          claimed_at=iso(now), expires_at=sending_until),
                        condition=EmailDeliveryItem.pk.does_not_exist() | abandoned, label="delivery")
            also(tx)

        transaction = self._tx or Transaction(Connection(region=EmailDeliveryItem.Meta.region))
        transaction.run(build, on_conflict=lambda labels: BatchNotClaimed(", ".join(sorted(labels))))

    def finish_all(self, finished: Sequence["FinishedDelivery"]) -> None:
        """`finish` for the emails of a batch, in one BatchWriteItem (25 a request; DynamoDB's
        unprocessed items retried by PynamoDB): each item written whole, as `finish` leaves it, over
        the worker's own claim (`claimed_at` kept)."""
        with EmailDeliveryItem.batch_write() as batch:
            for done in finished:
                batch.save(EmailDeliveryItem(keys.email_delivery_pk(done.delivery_key), keys.EMAIL_DELIVERY_SK,
                                             status=done.status, claimed_at=done.claimed_at, sent_at=done.at,
                                             expires_at=done.remember_until, message_id=done.message_id or None))

    def claim(self, delivery_key: str, now, sending_until) -> str:
        """CLAIMED (send it now), SENDING (a live claim elsewhere: try later) or SENT/FAILED (done)."""
        pk, sk = keys.email_delivery_pk(delivery_key), keys.EMAIL_DELIVERY_SK
        abandoned = (EmailDeliveryItem.status == self.SENDING) & (EmailDeliveryItem.expires_at < now)
        try:
            EmailDeliveryItem(pk, sk, status=self.SENDING, claimed_at=iso(now), expires_at=sending_until).save(
                condition=EmailDeliveryItem.pk.does_not_exist() | abandoned)
            return self.CLAIMED
        except PutError as exc:
            if not _is_condition_failure(exc):
                raise
        try:
            found = EmailDeliveryItem.get(pk, sk, consistent_read=True)
        except DoesNotExist:
            return self.SENDING  # released between our write and this read: the next try claims it
        return found.status or self.SENT

    def finish(self, delivery_key: str, status: str, at: str, remember_until, message_id: Optional[str] = None) -> None:
        """The email went out (SENT) or never will (FAILED): remember it until `remember_until`."""
        actions = [EmailDeliveryItem.status.set(status), EmailDeliveryItem.sent_at.set(at),
                   EmailDeliveryItem.expires_at.set(remember_until)]
        if message_id:
            actions.append(EmailDeliveryItem.message_id.set(message_id))
        EmailDeliveryItem(keys.email_delivery_pk(delivery_key), keys.EMAIL_DELIVERY_SK).update(actions=actions)

    def release(self, delivery_key: str) -> None:
        """Sending failed in a way worth retrying: the next delivery of the message claims it again."""
        EmailDeliveryItem(keys.email_delivery_pk(delivery_key), keys.EMAIL_DELIVERY_SK).delete()
