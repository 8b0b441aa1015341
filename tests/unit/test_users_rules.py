import pytest

from chalicelib.domain import users as rules
from chalicelib.domain.errors import InvalidInput, RuleViolation
from chalicelib.domain.roles import Role
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID, User


def a_user(*roles):
    return User(id="u", organization_id="org", email="u@e.example", name="U", roles=frozenset(roles))


def test_emails_are_trimmed_and_lower_cased():
    assert rules.normalize_email("  Maria.Silva@Empresa.COM.br ") == "maria.silva@empresa.com.br"


@pytest.mark.parametrize("bad", ["", "sem-arroba", "a@b", "a @b.com", "a@@b.com", "x" * 250 + "@e.com"])
def test_malformed_emails_are_refused(bad):
    with pytest.raises(InvalidInput) as err:
        rules.normalize_email(bad)
    assert err.value.code == "invalid_email"


def test_customer_users_get_customer_profiles_and_operators_only_the_operator_profile():
    assert rules.validate_roles(["adm", "cobranca"], "org") == {Role.ADM, Role.COBRANCA}
    with pytest.raises(RuleViolation):
        rules.validate_roles(["operator"], "org")
    with pytest.raises(RuleViolation):
        rules.validate_roles(["master"], RESELLER_ORGANIZATION_ID)
    with pytest.raises(InvalidInput):
        rules.validate_roles([], "org")
    with pytest.raises(InvalidInput):
        rules.validate_roles(["root"], "org")


def test_the_last_master_cannot_lose_the_master_profile():
    with pytest.raises(RuleViolation):
        rules.ensure_not_removing_last_master(a_user(Role.MASTER), frozenset({Role.ADM}), masters_count=1)
    with pytest.raises(RuleViolation):
        rules.ensure_not_removing_last_master(a_user(Role.MASTER), None, masters_count=1)
    rules.ensure_not_removing_last_master(a_user(Role.MASTER), frozenset({Role.ADM}), masters_count=2)
    rules.ensure_not_removing_last_master(a_user(Role.MASTER), frozenset({Role.MASTER, Role.ADM}), masters_count=1)
    rules.ensure_not_removing_last_master(a_user(Role.ADM), None, masters_count=1)


def test_master_delta_counts_gaining_and_losing_the_master_profile():
    assert rules.master_delta(frozenset({Role.ADM}), frozenset({Role.MASTER})) == 1
    assert rules.master_delta(frozenset({Role.MASTER}), frozenset({Role.ADM})) == -1
    assert rules.master_delta(frozenset({Role.MASTER}), None) == -1
    assert rules.master_delta(frozenset({Role.MASTER}), frozenset({Role.MASTER, Role.ADM})) == 0
