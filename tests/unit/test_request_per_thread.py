"""Requests answered at once on threads of one app (the local server, the tests) each read their own
request: Chalice keeps it on the app object, which Lambda never shares between two requests."""
import threading

from chalice.app import Request

from chalicelib.api.http import PortalChalice


def _request(key: str) -> Request:
    return Request({"headers": {"idempotency-key": key}, "queryStringParameters": None, "pathParameters": None,
                    "requestContext": {"httpMethod": "POST", "resourcePath": "/cart/checkout"},
                    "stageVariables": None, "body": None, "isBase64Encoded": False,
                    "multiValueQueryStringParameters": None, "path": "/cart/checkout"}, None)


def test_two_threads_each_read_the_request_they_are_answering():
    app = PortalChalice(app_name="per-thread")
    both_set, seen = threading.Barrier(2, timeout=10), {}

    def answer(key):
        app.current_request = _request(key)
        app.lambda_context = key
        both_set.wait()  # the other thread has set its own request since
        seen[key] = (app.current_request.headers["idempotency-key"], app.lambda_context)

    threads = [threading.Thread(target=answer, args=(key,)) for key in ("pedido-1", "pedido-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"pedido-1": ("pedido-1", "pedido-1"), "pedido-2": ("pedido-2", "pedido-2")}
    assert app.current_request is None  # nothing set on this thread


def test_the_app_answers_as_chalice_does():
    from app import app

    assert isinstance(app, PortalChalice)
    assert app.current_request is None or isinstance(app.current_request, Request)
