"""The error catalogue as an architecture rule: codes are declared once, in domain/error_codes.py,
and raise sites call them; nobody spells a code or a message of their own."""
import ast
import inspect
import re
import string
from pathlib import Path

import pytest

from chalicelib.api.errors import STATUS_BY_ERROR
from chalicelib.domain import error_codes, errors
from chalicelib.domain.errors import CATALOGUE, AlreadyInvoiced, DomainError, ErrorCode, declare

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
ERRORS_MODULE = "chalicelib/domain/errors.py"

# Files another change is restructuring; their raise sites move to the catalogue when it lands.
# Remove a file from here once it is converted (a test below insists on it).
NOT_YET_CONVERTED = set()

KINDS = {name for name, value in vars(errors).items()
         if inspect.isclass(value) and issubclass(value, DomainError)}
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


def _called_name(call: ast.Call):
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _offences(tree: ast.AST):
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name in KINDS:
            yield node.lineno, f"builds {name}(...) directly"
        for keyword in node.keywords:
            if keyword.arg == "code" and isinstance(keyword.value, ast.Constant) \
                    and isinstance(keyword.value.value, str):
                yield node.lineno, f"spells code={keyword.value.value!r}"


def _offenders():
    found = {}
    for relative, tree in _modules():
        if relative != ERRORS_MODULE:
            found[relative] = [f"{relative}:{line}: {what}" for line, what in sorted(_offences(tree))]
    return found


# --- raise sites ---------------------------------------------------------------------------------

def test_raise_sites_call_catalogue_codes_instead_of_building_errors_or_spelling_codes():
    offenders = [line for path, lines in _offenders().items() if path not in NOT_YET_CONVERTED for line in lines]
    assert not offenders, "use a code from chalicelib/domain/error_codes.py:\n" + "\n".join(offenders)


def test_every_error_kind_is_defined_beside_the_others_in_domain_errors():
    elsewhere = [f"{path}:{node.lineno}: class {node.name}"
                 for path, tree in _modules() if path != ERRORS_MODULE
                 for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                 and any(isinstance(base, ast.Name) and base.id in KINDS for base in node.bases)]
    assert not elsewhere, "\n".join(elsewhere)


def test_a_file_left_to_convert_leaves_the_allow_list_once_it_is_converted():
    offenders = _offenders()
    converted = sorted(path for path in NOT_YET_CONVERTED if not offenders.get(path))
    assert not converted, f"converted (or gone): remove from NOT_YET_CONVERTED: {converted}"


# --- the catalogue itself ------------------------------------------------------------------------

def test_each_code_is_snake_case_with_a_full_pt_br_sentence():
    bad = [c.code for c in CATALOGUE.values() if not SNAKE_CASE.fullmatch(c.code)
           or not c.message or c.message.strip() != c.message or c.message[-1] not in ".!?"]
    assert not bad, bad


def test_each_code_answers_with_an_http_status_through_its_kind():
    unmapped = [f"{c.code}: {c.kind.__name__}" for c in CATALOGUE.values()
                if not any(klass in STATUS_BY_ERROR for klass in c.kind.__mro__)]
    assert not unmapped, "no status in api/errors.py STATUS_BY_ERROR: " + ", ".join(unmapped)


def test_each_placeholder_is_a_name_the_details_can_fill():
    bad = {c.code: name for c in CATALOGUE.values()
           for _, name, _, _ in string.Formatter().parse(c.message)
           if name is not None and not name.isidentifier()}
    assert not bad, bad


def test_each_code_is_a_constant_of_the_catalogue_module_named_after_it():
    constants = {name: value for name, value in vars(error_codes).items() if isinstance(value, ErrorCode)}
    assert {name: value.code for name, value in constants.items()} == {
        value.code.upper(): value.code for value in constants.values()}
    assert {value.code for value in constants.values()} == set(CATALOGUE)


def test_declaring_a_code_twice_is_refused():
    with pytest.raises(ValueError):
        declare("invalid_email", errors.InvalidInput, "Outra mensagem.")
    assert CATALOGUE["invalid_email"] is error_codes.INVALID_EMAIL


def test_a_code_fills_its_message_from_the_details_it_carries():
    error = error_codes.TOO_LONG(field="name", max_length=5)
    assert (error.code, error.message, error.details) == (
        "too_long", "Campo 'name' excede 5 caracteres.", {"field": "name", "max_length": 5})


def test_a_code_declared_with_a_narrower_kind_stays_catchable_by_that_class():
    with pytest.raises(AlreadyInvoiced):
        raise error_codes.ALREADY_INVOICED()


def test_the_api_description_publishes_every_code_with_its_status_and_message():
    from chalicelib.api.openapi import document

    published = document()["x-error-codes"]
    assert set(published) == set(CATALOGUE)
    assert published["boleto_not_available"] == {
        "status": 404, "message": error_codes.BOLETO_NOT_AVAILABLE.message}
    assert published["second_copy_not_applicable"]["status"] == 409
