"""The customer's address (the NFS-e taker's): what normalize_address keeps, and what it refuses,
naming the field."""
import pytest

from chalicelib.domain.addresses import Address, municipality, normalize_address
from chalicelib.domain.errors import DomainError, RuleViolation

GOOD = {"cep": "01310-100", "street": "Avenida Paulista", "number": "1000", "complement": "Conjunto 101",
        "district": "Bela Vista", "city_code": "3550308"}


def refusal(raw, prefix="address") -> DomainError:
    with pytest.raises(RuleViolation) as caught:
        normalize_address(raw, prefix)
    assert caught.value.code == "invalid_address"
    assert "{" not in caught.value.message
    return caught.value


def test_the_ibge_table_knows_every_capital_and_no_made_up_code():
    assert municipality("3550308") == ("São Paulo", "SP")
    assert municipality("5300108") == ("Brasília", "DF")
    assert municipality("1302603") == ("Manaus", "AM")
    assert municipality("4314902") == ("Porto Alegre", "RS")
    assert municipality("3550309") is None
    assert municipality("") is None


def test_a_good_address_is_kept_with_the_city_and_state_of_its_ibge_code():
    assert normalize_address(GOOD) == Address(
        cep="01310100", street="Avenida Paulista", number="1000", complement="Conjunto 101", district="Bela Vista",
        city_code="3550308", city="São Paulo", state="SP")


def test_blanks_typographic_characters_and_the_missing_number_are_normalised():
    address = normalize_address({**GOOD, "street": "  Rua  D\u2019Ávila\n", "number": "s/n", "complement": "  ",
                                 "state": " sp ", "city": "SAO PAULO"})
    assert (address.street, address.number, address.complement, address.state) == ("Rua D'Ávila", "S/N", None, "SP")


def test_a_city_name_sent_with_other_accents_case_or_apostrophes_matches():
    address = normalize_address({**GOOD, "city_code": "3545803", "city": "santa barbara d oeste", "state": "SP"})
    assert address.city == "Santa Bárbara d'Oeste"


@pytest.mark.parametrize("changes, field", [
    ({"cep": "0131-100"}, "address.cep"),
    ({"cep": "01310-10A"}, "address.cep"),
    ({"cep": "00000-000"}, "address.cep"),
    ({"cep": None}, "address.cep"),
    ({"street": " "}, "address.street"),
    ({"number": ""}, "address.number"),
    ({"number": None}, "address.number"),
    ({"district": None}, "address.district"),
    ({"city_code": "355030"}, "address.city_code"),
    ({"city_code": "3550309"}, "address.city_code"),
    ({"city_code": None}, "address.city_code"),
    ({"state": "RJ"}, "address.state"),
    ({"city": "Rio de Janeiro"}, "address.city"),
    ({"street": "R" * 256}, "address.street"),
    ({"number": "1" * 61}, "address.number"),
    ({"district": "B" * 61}, "address.district"),
    ({"complement": "C" * 157}, "address.complement"),
    ({"street": "Rua do Café \u2615"}, "address.street"),
    ({"district": "Centro\x9b"}, "address.district"),
    ({"number": ["1"]}, "address.number"),
])
def test_each_bad_field_is_refused_by_name(changes, field):
    error = refusal({**GOOD, **changes})
    assert error.details["field"] == field and error.details["reason"]


def test_a_missing_number_says_what_to_send():
    raw = dict(GOOD)
    del raw["number"]
    assert "S/N" in refusal(raw).message


def test_the_uf_mismatch_says_where_the_municipio_is():
    assert "SP" in refusal({**GOOD, "state": "RJ"}).message


def test_without_a_prefix_the_field_is_the_bare_name():
    assert refusal({**GOOD, "cep": "1"}, prefix="").details["field"] == "cep"


def test_an_address_that_is_not_an_object_is_refused():
    assert refusal("Avenida Paulista, 1000").details["field"] == "address"


def test_a_blank_state_or_city_is_as_if_not_sent():
    assert normalize_address({**GOOD, "state": " ", "city": ""}).city == "São Paulo"
