"""DynamoDB applies each write and each transaction atomically. moto's in-memory tables do not when
several threads call it at once (the API server's threads and the event pump): a transaction
deep-copies the tables while another request writes, and fails with "dictionary changed size during
iteration". One lock around moto's DynamoDB operations restores DynamoDB's guarantee locally."""
from __future__ import annotations

import threading

_OPERATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query")
_installed = {}


def serialize_dynamodb() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if _installed:
        return
    lock = threading.RLock()
    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        _installed[name] = original

        def locked(self, *args, __original=original, **kwargs):
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def restore() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name, original in _installed.items():
        setattr(DynamoDBBackend, name, original)
    _installed.clear()
