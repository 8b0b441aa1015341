"""The simulator on the LicenceProvider interface, the catalog's offer ids and a change's pending order."""
from datetime import datetime, timezone

import pytest

from chalicelib.adapters.licence_provider import (CUSTOMER_INCOMPLETE, CUSTOMER_NOT_LINKED, Customer,
                                                  LicenceProviderRejected, LicenceProviderUnavailable, Offer,
                                                  OrderPending, SimulatedLicenseProvider, onmicrosoft_domain)
from chalicelib.domain.addresses import Address
from chalicelib.domain import subscriptions as rules
from chalicelib.domain.catalog import validate_offer_id
from chalicelib.domain.errors import InvalidInput

ADDRESS = Address(cep="01310100", street="Avenida Paulista", number="1000", district="Bela Vista",
                  city_code="3550308", city="São Paulo", state="SP")
NEW = Customer(organization_id="org-1", name="Empresa Ltda", cnpj="11222333000181",
               domain="empresa1a2b3.onmicrosoft.com", existing_microsoft_customer=False,
               email="master@empresa.example", address=ADDRESS)
EXISTING = Customer(organization_id="org-2", name="Outra Ltda", cnpj="11444777000161", domain="outra.onmicrosoft.com",
                    existing_microsoft_customer=True, email=None, address=None)
OFFER = Offer(sku="MS365-E3", offer_id="CFQ7TTC0LFLX:0001", term="P1Y", billing_frequency="monthly")


def test_a_customer_is_made_once_whatever_the_request_and_an_unlinked_tenant_is_refused():
    provider = SimulatedLicenseProvider()
    first = provider.ensure_customer(NEW, "req-1")
    assert provider.ensure_customer(NEW, "req-2") == first
    linked = provider.ensure_customer(EXISTING, "req-3")
    assert linked != first and [c["linked"] for c in provider.customers] == [False, True]
    provider.refuse_link("semconvite.example")
    with pytest.raises(LicenceProviderRejected) as refused:
        provider.ensure_customer(Customer(**{**EXISTING.__dict__, "organization_id": "org-3",
                                             "domain": "semconvite.example"}), "req-4")
    assert refused.value.code == CUSTOMER_NOT_LINKED and len(provider.customers) == 2


@pytest.mark.parametrize("changes", [{"email": None}, {"address": None}, {"domain": None},
                                     {"domain": None, "existing_microsoft_customer": True}])
def test_the_simulator_refuses_a_customer_partner_center_would_refuse(changes):
    provider = SimulatedLicenseProvider()
    with pytest.raises(LicenceProviderRejected) as refused:
        provider.ensure_customer(Customer(**{**NEW.__dict__, **changes}), "req-1")
    assert refused.value.code == CUSTOMER_INCOMPLETE and provider.customers == []


@pytest.mark.parametrize("name, organization_id", [
    ("Açaí & Cia Ltda", "01jabc"), ("Comércio de Informática e Serviços Tecnológicos Brasileiros S.A.", "01jabd"),
    ("123 Sistemas ME", "01jabe"), ("Ltda", "01jabf"), ("", "01jabg")])
def test_a_new_customers_domain_is_ascii_at_most_27_characters_and_stable(name, organization_id):
    domain = onmicrosoft_domain(name, organization_id)
    prefix, rest = domain.split(".", 1)
    assert rest == "onmicrosoft.com" and 1 <= len(prefix) <= 27
    assert prefix.isascii() and prefix.isalnum() and prefix == prefix.lower() and prefix[0].isalpha()
    assert onmicrosoft_domain(name, organization_id) == domain  # a retry asks the same
    assert onmicrosoft_domain(name, organization_id + "x") != domain  # another company of that name, another


def test_a_new_customers_domain_reads_as_its_name():
    assert onmicrosoft_domain("Açaí & Cia Ltda", "01jabc").startswith("acai")
    assert onmicrosoft_domain("Açaí & Cia Ltda", "01jabc")[:-len(".onmicrosoft.com")][:-5] == "acai"


def test_a_pending_order_is_the_same_order_on_a_repeated_request_and_completes_after_its_polls():
    provider = SimulatedLicenseProvider()
    customer = provider.ensure_customer(NEW, "req-c")
    provider.pending_orders(1)
    with pytest.raises(OrderPending) as pending:
        provider.create_subscription(customer, OFFER, 3, "change-1")
    with pytest.raises(OrderPending) as again:
        provider.create_subscription(customer, OFFER, 3, "change-1")
    assert again.value.order_id == pending.value.order_id and len(provider.orders()) == 1
    with pytest.raises(OrderPending):
        provider.order_outcome(customer, pending.value.order_id)
    subscription = provider.order_outcome(customer, pending.value.order_id)
    assert provider.get(customer, subscription)["offer_id"] == "CFQ7TTC0LFLX:0001"
    with pytest.raises(LicenceProviderRejected):
        provider.order_outcome("another-customer", pending.value.order_id)


def test_the_next_call_can_be_refused_or_fail_and_every_call_is_recorded():
    provider = SimulatedLicenseProvider()
    provider.reject_next("bad_request", "No.")
    with pytest.raises(LicenceProviderRejected):
        provider.suspend("c-1", "sub-1", "r-1")
    provider.fail_next(1)
    with pytest.raises(LicenceProviderUnavailable):
        provider.reactivate("c-1", "sub-1", "r-2")
    provider.suspend("c-1", "sub-1", "r-3")
    assert provider.get("c-1", "sub-1")["status"] == "suspended"
    assert [(op, c) for op, c, _ in provider.requests] == [("suspended", "c-1"), ("active", "c-1"),
                                                          ("suspended", "c-1")]
    assert len(provider.status_requests) == 3 and provider.calls == 3


@pytest.mark.parametrize("raw, expected", [("CFQ7TTC0LCHC:0002", "CFQ7TTC0LCHC:0002"),
                                           (" cfq7ttc0lchc:000n ", "CFQ7TTC0LCHC:000N"), ("", None), (None, None)])
def test_an_offer_id_is_partner_centers_product_and_sku(raw, expected):
    assert validate_offer_id(raw) == expected


@pytest.mark.parametrize("raw", ["CFQ7TTC0LCHC", "CFQ7TTC0LCHC-0002", "CFQ7TTC0LCH:0002", "CFQ7TTC0LCHC:0002:X", 12])
def test_anything_else_is_refused_naming_the_field(raw):
    with pytest.raises(InvalidInput) as refused:
        validate_offer_id(raw)
    assert refused.value.code == "invalid_offer_id" and refused.value.details["field"] == "offer_id"


def test_a_change_keeps_its_one_order_and_counts_its_polls():
    change = rules.QuantityChange(id="c", subscription_id="s", organization_id="o", kind=rules.PURCHASE,
                                  from_quantity=0, to_quantity=3, requested_at="2026-11-11T12:00:00+00:00",
                                  requested_by="u", applies=rules.APPLIES_NOW, status=rules.CHANGE_PENDING)
    now = datetime(2026, 11, 11, 15, tzinfo=timezone.utc)
    polled = rules.order_pending(rules.order_pending(change, "order-1", now), "order-1", now)
    assert (polled.order_id, polled.order_polls, polled.attempts) == ("order-1", 2, 0)
    with pytest.raises(ValueError):
        rules.order_pending(polled, "order-2", now)
