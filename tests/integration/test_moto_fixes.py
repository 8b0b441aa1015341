"""The embedded AWS's DynamoDB after local/moto_fixes.py. TransactWriteItems stays all-or-nothing
with item snapshots instead of whole-table copies: a transaction that fails on its last entry leaves
every item it named as it was, and a successful one writes all of them. A Query that reads only its
partition still honours key conditions, order, limits and pages."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def table(deps):
    return deps.settings.table_name


@pytest.fixture
def dynamodb(deps):
    return boto3.client("dynamodb", region_name=deps.settings.region)


def _item(dynamodb, table, pk):
    return dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "X"}}).get("Item")


def test_a_failed_transaction_undoes_its_puts_updates_and_deletes(dynamodb, table):
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "UPDATED"}, "sk": {"S": "X"}, "n": {"N": "1"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "DELETED"}, "sk": {"S": "X"}, "n": {"N": "7"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "GUARD"}, "sk": {"S": "X"}})

    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "NEW"}, "sk": {"S": "X"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "UPDATED"}, "sk": {"S": "X"}},
                        "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "DELETED"}, "sk": {"S": "X"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "GUARD"}, "sk": {"S": "X"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(dynamodb, table, "NEW") is None
    assert _item(dynamodb, table, "UPDATED")["n"] == {"N": "1"}
    assert _item(dynamodb, table, "DELETED")["n"] == {"N": "7"}


def test_a_successful_transaction_writes_every_entry(dynamodb, table):
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "UPDATED"}, "sk": {"S": "X"}, "n": {"N": "1"}})

    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "NEW"}, "sk": {"S": "X"}}}},
        {"Update": {"TableName": table, "Key": {"pk": {"S": "UPDATED"}, "sk": {"S": "X"}},
                    "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])

    assert _item(dynamodb, table, "NEW") is not None
    assert _item(dynamodb, table, "UPDATED")["n"] == {"N": "2"}


def test_two_entries_on_one_item_are_refused_without_writing(dynamodb, table):
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "TWICE"}, "sk": {"S": "X"}, "n": {"N": "1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "TWICE"}, "sk": {"S": "X"}, "n": {"N": "2"}}}},
        ])

    assert _item(dynamodb, table, "TWICE") is None


def test_a_query_reads_its_partition_in_key_order_with_conditions_limits_and_pages(dynamodb, table):
    for pk in ("A", "B"):
        for n in (3, 1, 2, 5, 4):
            dynamodb.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": f"{pk}#{n}"}, "n": {"N": str(n)}})

    def query(**extra):
        return dynamodb.query(TableName=table, KeyConditionExpression="pk = :p" + extra.pop("condition", ""),
                              ExpressionAttributeValues={":p": {"S": "B"}, **extra.pop("values", {})}, **extra)

    assert [i["sk"]["S"] for i in query()["Items"]] == ["B#1", "B#2", "B#3", "B#4", "B#5"]
    assert [i["sk"]["S"] for i in query(ScanIndexForward=False, Limit=2)["Items"]] == ["B#5", "B#4"]
    assert [i["sk"]["S"] for i in query(condition=" AND sk <= :s", values={":s": {"S": "B#3"}})["Items"]] \
        == ["B#1", "B#2", "B#3"]
    first = query(Limit=3)
    rest = query(Limit=3, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [i["n"]["N"] for i in first["Items"] + rest["Items"]] == ["1", "2", "3", "4", "5"]
    assert dynamodb.query(TableName=table, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "NONE"}})["Items"] == []


def test_the_fixes_are_what_runs(dynamodb, table, monkeypatch):
    """The results above would be the same without the fixes: here, a partition query must not walk
    the whole table, and a transaction must not deep-copy it."""
    import copy

    from moto.dynamodb.models.table import Table

    def whole_table(self):
        raise AssertionError("a partition query walked the whole table")

    real_deepcopy = copy.deepcopy

    def no_table_copies(value, memo=None):
        assert not isinstance(value, Table), "a transaction deep-copied the whole table"
        return real_deepcopy(value, memo)

    monkeypatch.setattr(Table, "all_items", whole_table)
    monkeypatch.setattr(copy, "deepcopy", no_table_copies)
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "P"}, "sk": {"S": "1"}}}}])
    assert len(dynamodb.query(TableName=table, KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": {"S": "P"}})["Items"]) == 1


def test_an_index_query_finds_what_moto_finds_in_the_same_order_ties_included(dynamodb, table):
    """Index queries read the items as stored instead of sorting the whole table first: the same
    items, sorted by the index's keys, and items with equal index keys in the table's key order,
    as moto's own full sort gave them (compared with the unfixed query on the same table)."""
    from moto.dynamodb.models.table import Table

    from local import moto_fixes

    for pk in ("Z", "B", "M", "A"):  # stored out of order; two ties on the index's keys
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"TIE#{pk}"}, "sk": {"S": "X"},
                                                 "gsi1pk": {"S": "TIES"}, "gsi1sk": {"S": "same" if pk in "ZA" else pk}})

    def query(**extra):
        return [i["pk"]["S"] for i in dynamodb.query(
            TableName=table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": "TIES"}}, **extra)["Items"]]

    fixed, fixed_back = query(), query(ScanIndexForward=False)
    patched = Table.query
    Table.query = moto_fixes._installed["table_query"]  # moto's own, for the comparison
    try:
        unfixed, unfixed_back = query(), query(ScanIndexForward=False)
    finally:
        Table.query = patched
    assert fixed == unfixed == ["TIE#B", "TIE#M", "TIE#A", "TIE#Z"]
    assert fixed_back == unfixed_back
