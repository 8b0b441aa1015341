"""Creates, on the embedded moto server, what `infra/` creates on AWS: the table, the documents
bucket, the queues with their dead-letter queues, the user pool and its app client, and the SES
sender identity. Returns the environment the app needs to find them."""
from __future__ import annotations

import json
from typing import Dict

import boto3

from chalicelib.domain.privacy import EXPORTS_LIFETIME_DAYS, EXPORTS_PREFIX
from chalicelib.settings import Settings
from chalicelib.storage import keys
from chalicelib.storage.models import TABLE_ATTRIBUTES, TABLE_GSIS, TABLE_KEY_SCHEMA, TTL_ATTRIBUTE

# As in infra/: a message that failed this many times moves to the queue's DLQ.
MAX_RECEIVE_COUNT = 5


def create_table(settings: Settings) -> None:
    dynamodb = boto3.client("dynamodb", region_name=settings.region)
    dynamodb.create_table(
        TableName=settings.table_name, KeySchema=TABLE_KEY_SCHEMA, AttributeDefinitions=TABLE_ATTRIBUTES,
        GlobalSecondaryIndexes=TABLE_GSIS, BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(TableName=settings.table_name,
                                 TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    # A table created now never held a contract in the closing-day index's partitions from before
    # the shards: the runs need not read them (infra/: the backfill after the deploy writes this).
    dynamodb.put_item(TableName=settings.table_name, Item={
        "pk": {"S": keys.CLOSING_INDEX_MARKER_PK}, "sk": {"S": keys.CLOSING_INDEX_MARKER_SK},
        "at": {"S": "table created"}})
    # Nor a credit note without its marker in its organisation's collection: the runs' workers read
    # the markers alone (infra/: the credit markers' backfill after the deploy writes this).
    dynamodb.put_item(TableName=settings.table_name, Item={
        "pk": {"S": keys.CREDITS_MARKER_PK}, "sk": {"S": keys.CREDITS_MARKER_SK}, "at": {"S": "table created"}})


def queue_names(settings: Settings):
    return (settings.email_queue_name, settings.provisioning_queue_name, settings.billing_queue_name,
            settings.webhooks_queue_name)  # webhooks (issue #21 §3)


def create_queues(settings: Settings, names=None) -> Dict[str, str]:
    sqs = boto3.client("sqs", region_name=settings.region)
    urls = {}
    for name in queue_names(settings) if names is None else names:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[name] = sqs.create_queue(QueueName=name, Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        })["QueueUrl"]
        urls[f"{name}-dlq"] = dlq_url
    return urls


def create_mail_events(settings: Settings) -> None:
    """The topic SES publishes bounces and complaints to (infra/: MailEventsTopic) and, as the local
    stand-in for Lambda's SNS trigger, a queue subscribed to it that local/sns_delivery.py reads."""
    from local.sns_delivery import delivery_queue

    sns = boto3.client("sns", region_name=settings.region)
    sqs = boto3.client("sqs", region_name=settings.region)
    topic_arn = sns.create_topic(Name=settings.mail_events_topic)["TopicArn"]
    url = sqs.create_queue(QueueName=delivery_queue(settings.mail_events_topic),
                           Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)


def create_user_pool(region: str) -> Dict[str, str]:
    cognito = boto3.client("cognito-idp", region_name=region)
    pool = cognito.create_user_pool(
        PoolName="csp-portal-users",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": {"MinimumLength": 10, "RequireUppercase": True, "RequireLowercase": True,
                                     "RequireNumbers": True, "RequireSymbols": True,
                                     "TemporaryPasswordValidityDays": 7}},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        # As in infra/: TOTP available to every user; who must use it is the product's rule (domain/mfa.py).
        MfaConfiguration="OPTIONAL",
    )["UserPool"]
    cognito.set_user_pool_mfa_config(UserPoolId=pool["Id"], MfaConfiguration="OPTIONAL",
                                      SoftwareTokenMfaConfiguration={"Enabled": True})
    app_client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="csp-portal-web", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    return {"USER_POOL_ID": pool["Id"], "USER_POOL_CLIENT_ID": app_client["ClientId"]}


def create_bucket(settings: Settings) -> None:
    s3 = boto3.client("s3", region_name=settings.region)
    s3.create_bucket(Bucket=settings.documents_bucket, CreateBucketConfiguration={"LocationConstraint": settings.region})
    s3.put_bucket_lifecycle_configuration(Bucket=settings.documents_bucket, LifecycleConfiguration={"Rules": [{
        "ID": "lgpd-exports-expire", "Status": "Enabled", "Filter": {"Prefix": EXPORTS_PREFIX},
        "Expiration": {"Days": EXPORTS_LIFETIME_DAYS}}]})


def create_all(settings: Settings, endpoint_url: str) -> Dict[str, str]:
    """Everything the product needs; returns the environment variables that locate it."""
    create_table(settings)
    create_bucket(settings)
    create_queues(settings)
    create_mail_events(settings)
    sender_address = settings.mail_sender.split("<")[-1].rstrip(">").strip()
    boto3.client("sesv2", region_name=settings.region).create_email_identity(
        EmailIdentity=sender_address.split("@")[1])
    pool = create_user_pool(settings.region)
    create_certificate_secret(settings)
    pool["JWKS_URL"] = f"{endpoint_url}/{pool['USER_POOL_ID']}/.well-known/jwks.json"
    return pool


def create_certificate_secret(settings: Settings) -> None:
    """The A1 certificate's secret, as infra/ creates it, holding the demo certificate (a
    self-signed stand-in: local/demo_certificate.py) so the local stack signs every DPS."""
    from chalicelib.adapters.certificates import secret_value
    from local.demo_certificate import demo_a1

    boto3.client("secretsmanager", region_name=settings.region).create_secret(
        Name=settings.nfse_certificate_secret,
        SecretString=secret_value(*demo_a1(settings.beneficiary_cnpj, settings.beneficiary_name.upper())))


def ensure_all(settings: Settings) -> list:
    """After saved data is loaded: what this version of the product needs and the saved state lacks
    (an index, a queue or the bucket added since it was saved) is created, so an old state file
    still runs; returns what was added. Data itself is not migrated (`make run-clean` for that)."""
    added = []
    dynamodb = boto3.client("dynamodb", region_name=settings.region)
    table = dynamodb.describe_table(TableName=settings.table_name)["Table"]
    existing = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    for index in TABLE_GSIS:
        if index["IndexName"] not in existing:
            dynamodb.update_table(TableName=settings.table_name, AttributeDefinitions=TABLE_ATTRIBUTES,
                                  GlobalSecondaryIndexUpdates=[{"Create": index}])
            added.append(f"index {index['IndexName']}")
    sqs = boto3.client("sqs", region_name=settings.region)
    present = {url.rsplit("/", 1)[-1] for url in sqs.list_queues().get("QueueUrls", [])}
    missing = [name for name in queue_names(settings) if name not in present]
    if missing:
        create_queues(settings, missing)
        added.extend(f"queue {name}" for name in missing)
    from local.sns_delivery import delivery_queue

    if delivery_queue(settings.mail_events_topic) not in present:
        create_mail_events(settings)
        added.append(f"topic {settings.mail_events_topic}")
    s3 = boto3.client("s3", region_name=settings.region)
    if settings.documents_bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        create_bucket(settings)
        added.append(f"bucket {settings.documents_bucket}")
    secrets = boto3.client("secretsmanager", region_name=settings.region)
    try:
        secrets.describe_secret(SecretId=settings.nfse_certificate_secret)
    except secrets.exceptions.ResourceNotFoundException:
        create_certificate_secret(settings)
        added.append(f"secret {settings.nfse_certificate_secret}")
    return added
