"""Small factories that build test worlds: organisations, users with tokens, requests."""
from __future__ import annotations

import email
import itertools
import json
import os
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email import policy
from typing import Any, Dict, Iterable, List, Optional

import boto3

from chalicelib.domain.addresses import Address, normalize_address
from chalicelib.domain.contract import ACTIVE as CONTRACT_ACTIVE
from chalicelib.domain.contract import AWAITING_ACCEPTANCE, Contract, ContractItem
from chalicelib.domain.ids import new_id
from chalicelib.domain.organizations import Organization
from chalicelib.domain.roles import Role
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID, User
from chalicelib.domain.clock import local_day
from tests.contract import check_response
from chalicelib.domain.proration import Segment
from chalicelib.domain.subscriptions import ACTIVE, SeatWindow, Subscription, renewal_after
from local import seed as seed_module

PASSWORD = "Test#2026senha"
# What World's Masters and operators carry: enrolled in MFA (on their user item only; their logins
# go through the identity adapter, not /auth/login, so no code is asked of hundreds of tests).
ENROLLED_AT = "2026-11-01T12:00:00+00:00"
# A customer's address as the API takes it (onboarding, PUT …/address), and as World's
# organisations carry it: the NFS-e's taker address.
ADDRESS = {"cep": "01310-100", "street": "Avenida Paulista", "number": "1000", "complement": "Conjunto 101",
           "district": "Bela Vista", "city_code": "3550308", "state": "SP"}
TEST_ADDRESS = normalize_address(ADDRESS)


def totp_code(secret: str) -> str:
    """The code an authenticator app shows now for `secret`, never one about to expire: the local
    Cognito accepts only the current 30-second step."""
    import time

    import pyotp

    if 30 - time.time() % 30 < 2:
        time.sleep(2.1)
    return pyotp.TOTP(secret).now()


def _enrolled(roles, mfa_enrolled: Optional[bool]) -> Optional[str]:
    from chalicelib.domain.mfa import required_for

    return ENROLLED_AT if (required_for(roles) if mfa_enrolled is None else mfa_enrolled) else None


def sp(year, month, day, hour=12):
    """An instant at `hour` o'clock in São Paulo (as UTC)."""
    from chalicelib.domain.clock import SAO_PAULO

    return datetime(year, month, day, hour, tzinfo=SAO_PAULO).astimezone(timezone.utc)


def billed_in_november(world, clock, address: Optional[Address] = TEST_ADDRESS, org=None):
    """A customer with 10 MS365-E3 seats, billed by the operator's run for November 2026 (closing
    day 10, the run on the 11th at 09:00 in São Paulo): (org, operator, the invoice as stored).
    `address`: the organisation's (None: onboarded before the address was asked); `org`: an
    organisation with closing day 10 made beforehand (e.g. with a webhook endpoint already set)."""
    org = org or world.organization(closing_day=10, address=address)
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    assert world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"}).status_code == 202
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    return org, operator, world.deps.invoices.get(invoice["id"])


def make_cnpj(n: int) -> str:
    """A valid CNPJ for the n-th test organisation (one organisation per CNPJ)."""
    from chalicelib.domain.organizations import _CNPJ_WEIGHTS_1, _CNPJ_WEIGHTS_2, _cnpj_digit

    body = f"{70_000_000 + n:08d}0001"
    first = _cnpj_digit(body, _CNPJ_WEIGHTS_1)
    return f"{body}{first}{_cnpj_digit(body + str(first), _CNPJ_WEIGHTS_2)}"


BILLABLE_SKUS = ("MS365-E3", "POWERBI-PRO", "EXO-PLAN1")
# The bench's organisations' CNPJs: their own range (80 000 000…), never repeated in a process.
_bench_cnpjs = itertools.count(10_000_000)


def billable_organizations(deps, count: int, closing_day: int = 10, skus: Iterable[str] = BILLABLE_SKUS,
                           grew_on: date = date(2026, 10, 25)) -> List[str]:
    """`count` organisations with an accepted contract (boleto, one billing contact
    `financeiro<n>@bench.example`) closing on `closing_day`, each with one subscription per SKU that
    went from 4 to 5 seats on `grew_on`: written through the repositories, without users or a
    login, so that thousands are quick to make. The catalog is seeded if it is not. The billing
    benchmark bills these (bench/run.py); tests/integration/test_bench_seams.py bills a few."""
    if deps.catalog.get(BILLABLE_SKUS[0]) is None:
        seed_module.seed_catalog(deps)
    skus = tuple(skus)
    organization_ids = []
    for n in range(count):
        # A CNPJ and an address as onboarding requires: the NFS-e names its taker by them.
        org = Organization(id=new_id(), name=f"Bench {n}", cnpj=make_cnpj(next(_bench_cnpjs)),
                           created_at="2026-09-01T00:00:00+00:00", address=TEST_ADDRESS)
        contract = Contract(id=new_id(), organization_id=org.id, status=CONTRACT_ACTIVE, payment_method="boleto",
                            closing_day=closing_day, billing_contacts=[f"financeiro{n}@bench.example"])
        deps.organizations.create(org, contract, None, [])
        deps.subscriptions.save([], [], audit=[], created=[Subscription(
            id=new_id(), organization_id=org.id, sku=sku, name=sku, family="Bench", term="P1Y",
            billing_frequency="monthly", status=ACTIVE, quantity=5,
            timeline=[Segment(date(2026, 9, 1), 4), Segment(grew_on, 5)]) for sku in skus])
        organization_ids.append(org.id)
    return organization_ids


@dataclass
class Account:
    user: User
    token: str

    @property
    def headers(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


@dataclass
class Org:
    organization: Organization
    contract: Contract
    master: Account

    @property
    def id(self) -> str:
        return self.organization.id


class World:
    def __init__(self, deps, client, app):
        self.deps = deps
        self.client = client
        self.app = app
        self._count = 0

    # --- building ---------------------------------------------------------------------------
    def _next(self) -> int:
        self._count += 1
        return self._count

    def identity(self, email_address: str, name: str, password: str = PASSWORD) -> str:
        user_id = self.deps.identity.create_user(email_address, name, password)
        boto3.client("cognito-idp", region_name=self.deps.settings.region).admin_set_user_password(
            UserPoolId=self.deps.settings.user_pool_id, Username=email_address, Password=password,
            Permanent=True)
        return user_id

    def login(self, email_address: str, password: str = PASSWORD) -> str:
        return self.deps.identity.login(email_address, password).access_token

    def organization(self, name: Optional[str] = None, closing_day: int = 10,
                     items: Iterable[tuple] = (("MS365-E3", 10),), mfa_enrolled: bool = True,
                     address: Optional[Address] = TEST_ADDRESS) -> Org:
        """An organisation whose contract awaits acceptance, selling `items` ((sku, quantity)):
        accepting it orders them, so the catalog that sells them is seeded. Its Master is enrolled
        in MFA (on its record) unless `mfa_enrolled` is False. Its address is `TEST_ADDRESS`
        (None: a customer onboarded before the address was asked)."""
        items = list(items)
        if items:
            self.seed_catalog()
        n = self._next()
        org = Organization(id=new_id(), name=name or f"Empresa {n} Ltda", cnpj=make_cnpj(n),
                           created_at="2026-11-01T12:00:00+00:00", address=address)
        contract = Contract(id=new_id(), organization_id=org.id, status=AWAITING_ACCEPTANCE,
                            payment_method="boleto", closing_day=closing_day,
                            billing_contacts=[f"financeiro{n}@empresa{n}.example"],
                            items=[ContractItem(sku=sku, name=self._product_name(sku), quantity=quantity)
                                   for sku, quantity in items])
        master_email = f"master{n}@empresa{n}.example"
        master = User(id=self.identity(master_email, f"Master {n}"), organization_id=org.id, email=master_email,
                      name=f"Master {n}", roles=frozenset({Role.MASTER}), status="active",
                      created_at="2026-11-01T12:00:00+00:00", mfa_enrolled_at=ENROLLED_AT if mfa_enrolled else None)
        self.deps.organizations.create(org, contract, master, [])
        return Org(organization=org, contract=contract, master=Account(master, self.login(master_email)))

    def user(self, org_id: str, roles: Iterable[Role], email_address: Optional[str] = None,
             mfa_enrolled: Optional[bool] = None) -> Account:
        """A user with `roles`; enrolled in MFA (on its record) when its roles require it, unless
        `mfa_enrolled` says otherwise."""
        from chalicelib.services import audit

        roles = frozenset(roles)

        n = self._next()
        email_address = email_address or f"user{n}@org.example"
        user = User(id=self.identity(email_address, f"Usuário {n}"), organization_id=org_id, email=email_address,
                    name=f"Usuário {n}", roles=frozenset(roles), status="active",
                    created_at="2026-11-01T12:00:00+00:00", mfa_enrolled_at=_enrolled(roles, mfa_enrolled))
        self.deps.users.create(user, audit.entry(self.deps, seed_module.SEED_ACTOR, org_id, "user.invited",
                                                 f"user:{user.id}"))
        return Account(user, self.login(email_address))

    def operator(self, mfa_enrolled: bool = True) -> Account:
        try:
            self.deps.organizations.get(RESELLER_ORGANIZATION_ID)
        except Exception:
            self.deps.organizations.create(Organization(id=RESELLER_ORGANIZATION_ID, name="Brasoftware Cloud",
                                                        cnpj=None, created_at="2026-11-01T12:00:00+00:00"),
                                           None, None, [])
        return self.user(RESELLER_ORGANIZATION_ID, [Role.OPERATOR], mfa_enrolled=mfa_enrolled)

    def profiles(self, org: Org) -> Dict[Role, Account]:
        """One account per profile: the org's Master, one user per other customer profile, an operator."""
        accounts = {Role.MASTER: org.master}
        for role in (Role.ADM, Role.COBRANCA, Role.SUPORTE):
            accounts[role] = self.user(org.id, [role])
        accounts[Role.OPERATOR] = self.operator()
        return accounts

    def _product_name(self, sku: str) -> str:
        product = self.deps.catalog.get(sku)
        return product.name if product is not None else sku

    def seed_catalog(self) -> None:
        if self.deps.catalog.get("MS365-E3") is None:
            seed_module.seed_catalog(self.deps)

    def active_organization(self, closing_day: int = 10, items: Iterable[tuple] = ()) -> "Org":
        """An organisation whose Master has accepted the contract, with the catalog seeded. Its
        contract sells nothing up front unless `items` say so (accepting orders them): the test
        makes the subscriptions it needs."""
        org = self.organization(closing_day=closing_day, items=items)
        self.seed_catalog()
        self.accept_contract(org)
        return org

    def accept_contract(self, org: "Org") -> None:
        response = self.call("POST", "/contract/accept", org.master)
        assert response.status_code == 200, response.json_body

    def subscription(self, org: "Org", sku: str, quantity: int, bought_at=None) -> Subscription:
        """An active subscription, as if bought (and provisioned) at `bought_at` (default: now): its
        organisation has its customer at the licence provider."""
        from chalicelib.services import provisioning

        self.seed_catalog()
        organization = self.deps.organizations.get(org.id)
        if organization.address is None and not organization.microsoft_customer_id:
            # Bought before the address was asked: its tenant was made back then (a new one now
            # needs the address, as Partner Center and the simulator refuse one without).
            from chalicelib.domain.audit import SYSTEM
            from chalicelib.services import audit

            self.deps.organizations.link_microsoft_customer(org.id, f"sim-customer-{new_id()}", audit.entry(
                self.deps, SYSTEM, org.id, "organization.microsoft_linked", f"organization:{org.id}",
                before={"microsoft_customer_id": None}, after={"microsoft_customer_id": "linked before"}))
        provisioning.microsoft_customer_id(self.deps, org.id)
        product = self.deps.catalog.get(sku)
        bought_at = bought_at or self.deps.clock()
        day = local_day(bought_at)
        sub = Subscription(id=new_id(), organization_id=org.id, sku=sku, name=product.name, family=product.family,
                           term=product.term, billing_frequency=product.billing_frequency, status=ACTIVE,
                           quantity=quantity, started_on=day, renews_on=renewal_after(day, product.term),
                           timeline=[Segment(day, quantity)], windows=[SeatWindow(bought_at, quantity)],
                           provider_subscription_id=f"sim-{new_id()}")
        self.deps.subscriptions.save([], [], created=[sub], audit=[])
        return sub

    def billing_run(self, operator: "Account", period: str) -> Dict[str, Any]:
        """An operator's billing run of `period` through the API, its queues drained: the run as the
        back office then shows it."""
        run = self.call("POST", "/backoffice/billing-runs", operator, {"period": period})
        assert run.status_code == 202, run.json_body
        self.drain_queues()
        return self.call("GET", f"/backoffice/billing-runs/{run.json_body['run_id']}", operator).json_body

    def subscription_timeline(self, org: "Org", sku: str, timeline: Iterable[Segment]) -> Subscription:
        """A subscription with the quantity timeline given (a quantity of 0 ends it), written as is."""
        product = self.deps.catalog.get(sku)
        timeline = list(timeline)
        sub = Subscription(id=new_id(), organization_id=org.id, sku=sku, name=product.name, family=product.family,
                           term=product.term, billing_frequency=product.billing_frequency, status=ACTIVE,
                           quantity=timeline[-1].quantity, timeline=timeline)
        self.deps.subscriptions.save([], [], audit=[], created=[sub])
        return sub

    def last_closing(self, closing_day: int) -> date:
        today = local_day(self.deps.clock())
        if today.day > closing_day:  # the closing day itself is billed once it is over
            return today.replace(day=closing_day)
        previous = today.replace(day=1) - timedelta(days=1)
        return previous.replace(day=closing_day)

    def invoice(self, org: "Org", sku: str = "MS365-E3", quantity: int = 4):
        """An issued invoice: a subscription bought 45 days ago, billed at the last closing."""
        from chalicelib.services import billing

        self.subscription(org, sku, quantity, bought_at=self.deps.clock() - timedelta(days=45))
        closing = self.last_closing(org.contract.closing_day)
        run_id = billing.start_run(self.deps, seed_module.SEED_ACTOR, period=f"{closing:%Y-%m}", closing_days=[])
        billing.bill_contract(self.deps, {"run_id": run_id, "organization_id": org.id,
                                          "closing_date": closing.isoformat()})
        return self.deps.invoices.invoice_for_period(org.id, closing)

    def ticket(self, org: "Org"):
        from chalicelib.services import support
        from chalicelib.services.caller import Caller

        return support.open_ticket(self.deps, Caller(user=org.master.user, organization_id=org.id),
                                   subject="Não consigo acessar o Teams", category="acesso", severity="alta",
                                   description="Desde ontem o Teams pede senha de novo.")

    def approval(self, org: "Org") -> str:
        """A pending purchase approval request of `org` (purchase approvals, issue #21 §4), written
        as the service writes one; its id."""
        from chalicelib.domain import approvals as approval_rules
        from chalicelib.domain.clock import iso
        from chalicelib.services import audit

        self.seed_catalog()
        now = self.deps.clock()
        request = approval_rules.ApprovalRequest(
            id=new_id(), organization_id=org.id, kind=approval_rules.CHECKOUT,
            items=({"sku": "MS365-E3", "name": "Microsoft 365 E3", "quantity": 3, "unit_price_cents": 20710,
                    "monthly_cents": 62130},), subscription=None, monthly_effect_cents=62130,
            requested_by={"id": org.master.user.id, "email": org.master.user.email, "name": org.master.user.name},
            created_at=iso(now), expires_at=iso(approval_rules.expires_at(now)))
        self.deps.approvals.create(request, audit.entry(self.deps, seed_module.SEED_ACTOR, org.id,
                                                        "approval.requested", f"approval:{request.id}"))
        return request.id

    # --- requests ---------------------------------------------------------------------------
    def call(self, method: str, path: str, account: Optional[Account] = None, body: Any = None,
             headers: Optional[Dict[str, str]] = None):
        all_headers = dict(account.headers if account else {"Content-Type": "application/json"})
        all_headers.update(headers or {})
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        response = self.client.http.request(method, path, headers=all_headers, body=raw or b"")
        # Every answer is held to the contract /openapi.json publishes (tests/contract.py).
        content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type")
        check_response(method, path, response.status_code, content_type,
                       response.json_body if (content_type or "").startswith("application/json") else response.body)
        return response

    def enrol(self, headers: Dict[str, str]) -> str:
        """Enrol the caller of `headers` in MFA through the API, as the portal does (the secret the
        setup answers, then its current code); returns the secret."""
        secret = self.call("POST", "/auth/mfa/setup", headers=headers).json_body["secret"]
        verified = self.call("POST", "/auth/mfa/verify", headers=headers, body={"code": totp_code(secret)})
        assert verified.status_code == 200, verified.json_body
        return secret

    # --- events and mail --------------------------------------------------------------------
    def drain_queues(self) -> int:
        """Deliver every queue message and SNS notification (SES's simulated events) until none is
        left; returns how many deliveries it made."""
        from local.event_pump import EventPump
        from local.sns_delivery import SnsDelivery

        pump, sns = EventPump(self.app, self.deps.settings.region), SnsDelivery(self.app, self.deps.settings.region)
        total = 0
        while True:
            delivered = pump.drain() + sns.drain()
            total += delivered
            if delivered == 0:
                return total

    def make_visible(self) -> None:
        """Every in-flight or delayed queue message visible now, instead of after its visibility
        timeout or delay (moto runs in this process)."""
        from moto.backends import get_backend

        backend = get_backend("sqs")["123456789012"][self.deps.settings.region]
        for queue in backend.queues.values():
            for message in queue._messages:
                message.change_visibility(0)
                message.delayed_until = 0  # and every message sent with a delay (a pending order's poll)

    def outbox(self) -> List[email.message.EmailMessage]:
        folder = self.deps.settings.mail_copy_dir
        if not folder or not os.path.isdir(folder):
            return []
        messages = []
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as fh:
                messages.append(email.message_from_binary_file(fh, policy=policy.default))
        return messages


def reading_together(monkeypatch, owner, method: str, parties: int) -> None:
    """The first `parties` calls of `owner.method` (a read) all return only once every one of them has
    read: the requests racing after it read the same state, every time, not only when the scheduler
    happens to interleave them."""
    # The timeout only matters when a party never comes (a bug): generous, so a loaded CI machine
    # where five HTTP requests take long to reach the read does not break the barrier.
    barrier, real, readers = threading.Barrier(parties, timeout=60), getattr(owner, method), iter(range(parties))

    def read(*args, **kwargs):
        found = real(*args, **kwargs)
        if next(readers, None) is not None:
            barrier.wait()
        return found

    monkeypatch.setattr(owner, method, read)


def in_parallel(count: int, work) -> list:
    """`work(n)` for n in 0..count-1, each on its own thread; the outcomes in the order they ended."""
    outcomes, threads = [], [threading.Thread(target=lambda n=n: outcomes.append(work(n))) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def failing_first(real, times: int, error: Exception):
    """`real`, except that its first `times` calls raise `error`; `.calls` counts every call."""
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        if wrapper.calls <= times:
            raise error
        return real(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


def body_text(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def body_html(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def portal_script() -> str:
    """Every ES module of the portal, one after the other (for tests that read what it declares)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "templates" / "portal"
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.js")))


def prod_stage_environ(environ):
    """The environment of a prod stage: not the local stack's WEBHOOKS_ALLOW_LOOPBACK, which the
    tests' embedded AWS put in this process (the prod stage refuses it)."""
    return {key: value for key, value in environ.items() if key != "WEBHOOKS_ALLOW_LOOPBACK"}
