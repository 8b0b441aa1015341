"""The query-string validator alone: text in, typed values out, one named 400 for the first problem."""
import pytest

from chalicelib.api import query
from chalicelib.api.schema import integer, string
from chalicelib.domain.errors import InvalidInput

DECLARED = {
    "count": integer(1, 100),
    "offset": {"type": "integer", "minimum": -5, "maximum": 5},
    "archived": {"type": "boolean"},
    "status": {"type": "string", "enum": ["open", "paid"]},
    "period": string(min_length=0, max_length=7, pattern=r"^\d{4}-\d{2}$"),
    "quantity": {**integer(0, 1_000_000), "required": True, "x-error-code": "invalid_quantity"},
}


def refusal(raw, declared=DECLARED, **options):
    with pytest.raises(InvalidInput) as err:
        query.validate(raw, declared, **options)
    return err.value.code, err.value.details["field"]


def test_declared_values_come_out_typed():
    values = query.validate({"count": "007", "offset": "-5", "archived": "true", "status": "paid",
                             "period": "2026-11", "quantity": "0"}, DECLARED)
    assert values == {"count": 7, "offset": -5, "archived": True, "status": "paid", "period": "2026-11",
                      "quantity": 0}


def test_absent_optional_parameters_are_absent_unless_they_have_a_default():
    assert query.validate({"quantity": "3"}, DECLARED) == {"quantity": 3}
    assert query.validate({}, query.PAGE) == {"limit": query.DEFAULT_PAGE}


@pytest.mark.parametrize("raw, code, field", [
    ({"quantity": "1", "count": "abc"}, "invalid_type", "count"),
    ({"quantity": "1", "count": ""}, "invalid_type", "count"),
    ({"quantity": "1", "count": "1.0"}, "invalid_type", "count"),
    ({"quantity": "1", "count": "+1"}, "invalid_type", "count"),
    ({"quantity": "1", "count": " 1"}, "invalid_type", "count"),
    ({"quantity": "1", "count": "١"}, "invalid_type", "count"),  # a digit, but not an ASCII one
    ({"quantity": "1", "count": "-1"}, "invalid_type", "count"),  # the minimum allows no sign
    ({"quantity": "1", "count": "0100"}, "invalid_type", "count"),  # longer than the bounds need
    ({"quantity": "1", "count": "0"}, "out_of_range", "count"),
    ({"quantity": "1", "count": "101"}, "out_of_range", "count"),
    ({"quantity": "1", "offset": "-6"}, "out_of_range", "offset"),
    ({"quantity": "1", "archived": "1"}, "invalid_type", "archived"),
    ({"quantity": "1", "status": "closed"}, "invalid_value", "status"),
    ({"quantity": "1", "period": "2026-1x"}, "invalid_format", "period"),
    ({"quantity": "1", "period": "2026-11-01"}, "too_long", "period"),
    ({"quantity": "1", "period": "20\x00"}, "invalid_characters", "period"),
    ({"quantity": "1", "colour": "red"}, "unknown_parameter", "colour"),
])
def test_each_bad_parameter_is_named_with_a_code(raw, code, field):
    assert refusal(raw) == (code, field)


@pytest.mark.parametrize("raw", [{}, {"quantity": ""}, {"quantity": "-1"}, {"quantity": "1000001"},
                                 {"quantity": "99999999"}])
def test_a_declared_error_code_is_the_code_of_every_failure_of_that_parameter(raw):
    assert refusal(raw) == ("invalid_quantity", "quantity")


def test_undeclared_parameters_are_ignored_where_the_route_says_so():
    assert query.validate({"quantity": "1", "utm_source": "email"}, DECLARED, ignore_unknown=True) == {"quantity": 1}


def test_an_integer_without_both_bounds_still_has_a_bounded_length():
    unbounded = {"n": {"type": "integer"}}
    assert query.validate({"n": "-" + "9" * 18}, unbounded) == {"n": -int("9" * 18)}
    assert refusal({"n": "9" * 19}, unbounded) == ("invalid_type", "n")


def test_the_published_schema_keeps_json_schema_keys_only():
    declared = DECLARED["quantity"]
    assert query.published(declared) == {"type": "integer", "minimum": 0, "maximum": 1_000_000}
    assert query.is_required(declared) and query.error_code(declared) == "invalid_quantity"


def test_a_type_a_query_string_cannot_carry_is_refused_when_the_route_is_declared():
    with pytest.raises(ValueError):
        query.check_declaration("ids", {"type": "array", "items": {"type": "string"}})


@pytest.mark.parametrize("path, statuses", [
    ("/invoices", ("open", "overdue", "paid", "cancelled")),
    ("/backoffice/tickets", ("open", "in_progress", "waiting_customer", "resolved", "closed")),
])
def test_a_status_filter_is_checked_by_its_route_alone_against_the_domain_statuses(path, statuses):
    """The services list what they are given: the route refuses any other status, as invalid_status."""
    from chalicelib.api import invoices, tickets  # noqa: F401 - importing them declares their routes
    from chalicelib.api.http import ROUTES
    from chalicelib.domain import billing, tickets as ticket_rules

    declared = next(spec.query for spec in ROUTES if (spec.path, spec.method) == (path, "GET"))
    domain = {"/invoices": (billing.OPEN, billing.OVERDUE, billing.PAID, billing.CANCELLED),
              "/backoffice/tickets": ticket_rules.STATUSES}[path]
    assert statuses == tuple(domain)
    if path == "/backoffice/tickets":  # several, comma-separated (the operators' queue): a pattern of them
        for status in statuses:
            assert query.validate({"status": status}, declared)["status"] == status
        assert query.validate({"status": ",".join(statuses)}, declared)["status"] == ",".join(statuses)
        for bad in ("open,draft", "open,", ",open", "Open"):
            assert refusal({"status": bad}, declared) == ("invalid_status", "status")
    else:
        assert tuple(declared["status"]["enum"]) == statuses
    assert refusal({"status": "draft"}, declared) == ("invalid_status", "status")
    assert query.validate({"status": statuses[-1]}, declared)["status"] == statuses[-1]
