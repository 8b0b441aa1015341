"""Lead form fields: Brazilian phone numbers against the national numbering plan (ANATEL)."""
import pytest

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.leads import normalize_phone


@pytest.mark.parametrize("raw, stored", [
    ("(11) 3179-6900", "+551131796900"),        # São Paulo landline
    ("(11) 98765-4321", "+5511987654321"),      # São Paulo mobile
    ("+55 21 2345-6789", "+552123456789"),      # Rio landline, with the country code
    ("0 61 5432-1098", "+556154321098"),        # Brasília, with the trunk prefix
    ("(55) 3222-1234", "+555532221234"),        # DDD 55 (Santa Maria) is not the country code here
    ("99 99123-4567", "+5599991234567"),        # Maranhão mobile
    ("5547991234567", "+5547991234567"),
])
def test_valid_landlines_and_mobiles_are_stored_in_e164(raw, stored):
    assert normalize_phone(raw) == stored


@pytest.mark.parametrize("raw", [
    "(11) 97654-321",    # a mobile with a digit missing: 8 digits starting with 9 is no landline
    "(11) 8765-43210",   # 9 digits not starting with 9
    "(11) 6123-4567",    # landlines start 2–5
    "(11) 1234-5678",
    "(20) 3179-6900",    # DDD 20 does not exist
    "(23) 98765-4321",   # nor 23
    "(10) 3179-6900",
    "(00) 3179-6900",
    "3179-6900",         # no DDD
    "(11) 98765-43210",  # a digit too many
    "",
])
def test_numbers_with_a_missing_digit_an_impossible_prefix_or_an_unknown_ddd_are_refused(raw):
    with pytest.raises(InvalidInput) as refused:
        normalize_phone(raw)
    assert refused.value.code == "invalid_phone"
