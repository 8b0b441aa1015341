"""A state file saved by an older version still runs: what the product now needs and the saved
embedded AWS lacks (an index, a queue, the bucket) is added on start, with the data already there."""
import boto3

from local import aws_resources


def test_an_index_a_queue_and_the_bucket_missing_from_saved_state_are_added_and_the_index_sees_old_items(deps):
    settings = deps.settings
    dynamodb = boto3.client("dynamodb", region_name=settings.region)
    index = aws_resources.TABLE_GSIS[-1]  # the newest index, as one added after the state was saved
    dynamodb.update_table(TableName=settings.table_name, GlobalSecondaryIndexUpdates=[
        {"Delete": {"IndexName": index["IndexName"]}}])
    # An item written while the index did not exist.
    dynamodb.put_item(TableName=settings.table_name, Item={
        "pk": {"S": "OLD#1"}, "sk": {"S": "OLD#1"}, index["KeySchema"][0]["AttributeName"]: {"S": "OLD-INDEX"},
        index["KeySchema"][1]["AttributeName"]: {"S": "2026-12-21"}})
    sqs = boto3.client("sqs", region_name=settings.region)
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=settings.billing_queue_name)["QueueUrl"])
    s3 = boto3.client("s3", region_name=settings.region)
    s3.delete_bucket(Bucket=settings.documents_bucket)

    added = aws_resources.ensure_all(settings)

    assert added == [f"index {index['IndexName']}", f"queue {settings.billing_queue_name}",
                     f"bucket {settings.documents_bucket}"]
    found = dynamodb.query(TableName=settings.table_name, IndexName=index["IndexName"],
                           KeyConditionExpression="#h = :h",
                           ExpressionAttributeNames={"#h": index["KeySchema"][0]["AttributeName"]},
                           ExpressionAttributeValues={":h": {"S": "OLD-INDEX"}})["Items"]
    assert [item["pk"]["S"] for item in found] == ["OLD#1"]
    assert sqs.get_queue_url(QueueName=settings.billing_queue_name)["QueueUrl"]
    s3.head_bucket(Bucket=settings.documents_bucket)
    assert aws_resources.ensure_all(settings) == []  # nothing more to add
