"""Who must sign in with a code, and what a user without it may reach (domain/mfa.py)."""
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.domain import mfa
from chalicelib.domain.roles import Role
from chalicelib.domain.users import User


def _user(roles, enrolled_at=None):
    return User(id="u1", organization_id="o1", email="ana@empresa.example", name="Ana", roles=frozenset(roles),
                mfa_enrolled_at=enrolled_at)


@pytest.mark.parametrize("roles, required", [
    ({Role.OPERATOR}, True), ({Role.MASTER}, True), ({Role.MASTER, Role.ADM}, True),
    ({Role.ADM}, False), ({Role.COBRANCA}, False), ({Role.SUPORTE}, False), ({Role.ADM, Role.SUPORTE}, False),
])
def test_operators_and_masters_need_mfa_the_other_profiles_may_choose(roles, required):
    assert mfa.required_for(roles) is required
    assert mfa.enrolment_pending(_user(roles)) is required
    assert mfa.enrolment_pending(_user(roles, enrolled_at="2026-11-01T12:00:00+00:00")) is False


def test_a_master_without_enrolment_is_pending_until_it_enrols():
    adm = _user({Role.ADM})
    promoted = User(**{**adm.__dict__, "roles": frozenset({Role.ADM, Role.MASTER})})
    assert not mfa.enrolment_pending(adm) and mfa.enrolment_pending(promoted)


def test_the_otpauth_link_names_the_issuer_and_the_account():
    uri = mfa.otpauth_uri("JBSWY3DPEHPK3PXP", "ana+ti@empresa.example")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert parsed.path == "/Brasoftware%20Cloud:ana%2Bti@empresa.example"
    assert parse_qs(parsed.query) == {"secret": ["JBSWY3DPEHPK3PXP"], "issuer": ["Brasoftware Cloud"],
                                      "algorithm": ["SHA1"], "digits": ["6"], "period": ["30"]}


@pytest.mark.parametrize("code, ok", [("123456", True), ("000000", True), ("12345", False), ("1234567", False),
                                      ("12a456", False), ("１２３４５６", False), (" 12345", False)])
def test_a_code_is_six_ascii_digits(code, ok):
    assert mfa.is_code(code) is ok
