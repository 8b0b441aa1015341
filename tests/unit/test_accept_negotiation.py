"""`RequestContext.accepts`: whether a route that answers JSON and another type (CSV) answers the
other one, honouring the Accept header's q-values (review of issue #21)."""
import pytest

from chalicelib.api.http import RequestContext

CSV = "text/csv"


def _accepts(header):
    headers = {} if header is None else {"accept": header}
    return RequestContext(deps=None, caller=None, body={}, query={}, headers=headers, source_ip=None).accepts(CSV)


@pytest.mark.parametrize("header, csv", [
    (None, False),
    ("text/csv", True),
    ("TEXT/CSV; charset=utf-8", True),
    ("application/json, text/csv;q=0.1", False),  # the reviewer's case: JSON preferred
    ("text/csv;q=0.1, application/json", False),
    ("application/json;q=0.5, text/csv", True),
    ("text/csv; charset=utf-8; q=0.9, application/json; q=0.8", True),
    ("application/json;q=0, text/csv;q=0.001", True),
    ("text/csv, application/json", False),  # equal q: the route's own preference, JSON
    ("application/json;q=0.7, text/csv;q=0.7", False),
    ("text/csv;q=0", False),
    ("text/csv;q=0.000", False),
    ("*/*", False),  # never through a wildcard
    ("text/*", False),
    ("text/csv, */*;q=0.8", True),
    ("text/csv;q=0.5, */*", False),  # JSON through */* at 1 beats CSV at 0.5
    ("text/csv;q=0.5, application/*;q=0.9, */*;q=0.1", False),  # the most specific range gives JSON's q
    ("text/csv;q=0.5, application/*;q=0.1, */*;q=0.9", True),
    ("text/csv;q=abc, application/json;q=0.1", False),  # a q that is not a number: the entry is ignored
])
def test_accepts_honours_q_values(header, csv):
    assert _accepts(header) is csv
