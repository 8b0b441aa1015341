"""Local fixes to moto's DynamoDB so the embedded AWS behaves like DynamoDB where we rely on it.

1. **Atomicity under threads.** DynamoDB applies each write and each transaction atomically. moto's
   in-memory tables do not when several threads call it at once (the API server's threads and the
   event pump): a transaction iterates the tables while another request writes, and fails with
   "dictionary changed size during iteration". One lock around moto's DynamoDB operations restores
   DynamoDB's guarantee locally.
2. **Transaction cost.** Before each TransactWriteItems moto deep-copies every table it touches so it
   can roll back: the cost of one transaction grows with the table, and a billing run over N
   contracts costs O(N²) (300 contracts took 11 GB and minutes). DynamoDB's own cost does not grow
   with the table, so we snapshot only the items the transaction names and put those back on
   failure — the same all-or-nothing result.
3. **Query cost.** A Query on the table's own key walks and sorts every item of the table to find
   one partition; DynamoDB reads that partition only. The query is given that partition's items
   (moto still applies its key condition, order, limit and filters to them).

And one to its Cognito: **a TOTP secret an authenticator accepts.** moto gives every user one
secret, `asdfasdfasdf` (60 bits), which pyotp and authenticator apps refuse (at least 112 bits,
NIST SP 800-63B). The local pool hands out `LOCAL_TOTP_SECRET` instead: still ONE secret for every
user (README, "Security"), 160 bits as Cognito's are.
"""
from __future__ import annotations

import copy
import threading

_OPERATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query")
_installed: dict = {}

LOCAL_TOTP_SECRET = "LOCALSTACKTOTPSECRETFORDEMOUSERS"


def strong_totp_secret() -> None:
    """The local Cognito's one TOTP secret, long enough for an authenticator app (read by moto's
    functions from its module at each call)."""
    from moto.cognitoidp import models

    models.COGNITO_TOTP_MFA_SECRET = LOCAL_TOTP_SECRET


class _CopyKeepingTables:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a deep copy of a whole Table
    (moto's transaction backup) returns the table itself; item-level rollback replaces it."""

    def __init__(self, table_type):
        self._table_type = table_type

    def deepcopy(self, obj, memo=None):
        if isinstance(obj, self._table_type):
            return obj
        return copy.deepcopy(obj, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def _item_location(table, op: dict):
    """(hash, range) of the item one transaction entry writes, as moto keys its items; None when the
    entry is malformed (moto then refuses it before writing anything for it)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        attrs = op.get("Key") or op["Item"]
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        return hash_value, range_value
    except (KeyError, TypeError, AttributeError):
        return None


def _restore(table, hash_value, range_value, before) -> None:
    if range_value is None:
        if before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before
        return
    if before is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = before


def _transact_with_item_rollback(original):
    def transact_write_items(self, transact_items, *args, **kwargs):
        snapshots = []
        for entry in transact_items if isinstance(transact_items, list) else []:
            op = next(iter(entry.values()), None) if isinstance(entry, dict) else None
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            location = _item_location(table, op) if table is not None else None
            if location is not None:
                before = table.get_item(*location) if table.range_key_attr is None or location[1] else None
                snapshots.append((table, *location, copy.deepcopy(before)))
        try:
            return original(self, transact_items, *args, **kwargs)
        except Exception:
            for table, hash_value, range_value, before in reversed(snapshots):
                _restore(table, hash_value, range_value, before)
            raise

    return transact_write_items


def _by_table_key(item):
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


def _query_index_unsorted(self, original, *args, **kwargs):
    """An index query reads the items as stored, not sorted first: moto sorts the WHOLE table on each
    one (seconds a query with 100 000 items, where DynamoDB reads one partition; the sharded
    closing-day index's month run makes hundreds). What it finds is sorted by the index's keys, as
    before; ties keep the table's key order, as moto's full sort gave them (the few found, sorted)."""
    table, sorted_items = self, self.sorted_items

    def stored():
        return [item for held in table.items.values()
                for item in (held.values() if table.range_key_attr else [held])]

    self.all_items = stored  # instance attributes, removed below: only this call sees them
    self.sorted_items = lambda hash_attrs, range_attrs, found: sorted_items(
        hash_attrs, range_attrs, sorted(found, key=_by_table_key))
    try:
        return original(self, *args, **kwargs)
    finally:
        del self.all_items
        del self.sorted_items


def _query_one_partition(original):
    def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
              projection_expressions, index_name=None, *args, **kwargs):
        if index_name is not None:
            return _query_index_unsorted(self, original, hash_key, range_comparison, range_objs, limit,
                                         exclusive_start_key, scan_index_forward, projection_expressions,
                                         index_name, *args, **kwargs)
        if index_name is not None or hash_key is None:
            return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                            scan_index_forward, projection_expressions, index_name, *args, **kwargs)
        partition = self.items.get(hash_key) if self.range_key_attr else None
        items = list(partition.values()) if isinstance(partition, dict) else \
            ([self.items[hash_key]] if not self.range_key_attr and hash_key in self.items else [])
        self.all_items = lambda: items  # an instance attribute, removed below: only this call sees it
        try:
            return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                            scan_index_forward, projection_expressions, index_name, *args, **kwargs)
        finally:
            del self.all_items

    return query


def serialize_dynamodb() -> None:
    """Install the fixes (idempotent)."""
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if _installed:
        return
    _installed["copy"] = backend_module.copy
    backend_module.copy = _CopyKeepingTables(Table)
    _installed["table_query"] = Table.query
    Table.query = _query_one_partition(Table.query)
    lock = threading.RLock()
    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        _installed[name] = original
        if name == "transact_write_items":
            original = _transact_with_item_rollback(original)

        def locked(self, *args, __original=original, **kwargs):
            with lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def restore() -> None:
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend

    from moto.dynamodb.models.table import Table

    backend_module.copy = _installed.pop("copy", backend_module.copy)
    Table.query = _installed.pop("table_query", Table.query)
    for name, original in _installed.items():
        setattr(DynamoDBBackend, name, original)
    _installed.clear()
