"""Billing contacts: who receives invoices and boletos, changed by the Master or Cobrança."""
import pytest

from chalicelib.domain import contract as rules
from chalicelib.domain.contract import ACTIVE, AWAITING_ACCEPTANCE, TERMINATED, TERMINATING, Contract
from chalicelib.domain.errors import Conflict, InvalidInput


def contract(status=ACTIVE, contacts=("financeiro@empresa.example",)):
    return Contract(id="c1", organization_id="o1", status=status, payment_method="boleto", closing_day=10,
                    billing_contacts=list(contacts), version=3)


def test_new_contacts_are_normalised_and_the_version_moves_on():
    changed = rules.with_billing_contacts(contract(), [" Contas@Empresa.example ", "cfo@empresa.example"])
    assert changed.billing_contacts == ["contas@empresa.example", "cfo@empresa.example"]
    assert changed.version == 4


def test_the_same_contacts_again_leave_the_contract_as_it_is():
    before = contract()
    assert rules.with_billing_contacts(before, ["FINANCEIRO@empresa.example"]) is before


def test_at_least_one_contact_is_kept():
    with pytest.raises(InvalidInput) as refused:
        rules.with_billing_contacts(contract(), [])
    assert refused.value.code == "too_few_items"


def test_an_invalid_address_is_refused_with_its_position():
    with pytest.raises(InvalidInput) as refused:
        rules.with_billing_contacts(contract(), ["ok@empresa.example", "sem-arroba"])
    assert refused.value.code == "invalid_email"
    assert refused.value.details["field"] == "billing_contacts[1]"


def test_addresses_that_differ_only_in_case_are_the_same_contact_twice():
    with pytest.raises(InvalidInput) as refused:
        rules.with_billing_contacts(contract(), ["a@empresa.example", "A@Empresa.example"])
    assert refused.value.code == "duplicate_items"


@pytest.mark.parametrize("status", [AWAITING_ACCEPTANCE, ACTIVE, TERMINATING])
def test_contacts_change_until_the_contract_ends(status):
    assert rules.with_billing_contacts(contract(status), ["b@empresa.example"]).billing_contacts == ["b@empresa.example"]


def test_a_terminated_contract_keeps_its_contacts():
    with pytest.raises(Conflict) as refused:
        rules.with_billing_contacts(contract(TERMINATED), ["b@empresa.example"])
    assert refused.value.code == "contract_terminated"


def test_old_and_new_contacts_are_told_once_each():
    before = contract(contacts=["Fin@Empresa.example", "cfo@empresa.example"])
    after = rules.with_billing_contacts(before, ["cfo@empresa.example", "novo@empresa.example"])
    assert rules.told_of_contact_change(before, after) == [
        "cfo@empresa.example", "fin@empresa.example", "novo@empresa.example"]
