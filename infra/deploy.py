"""Deploy the packaged template (`make package`: build/sam.json + build/deployment.zip) through a
CloudFormation change set: `make deploy STAGE=prod ALARM_EMAIL=… SENDER=… [DOMAIN=… CERTIFICATE_ARN=…]`.

What `aws cloudformation package` + `deploy` would do, with boto3 alone (neither the AWS CLI nor the
SAM CLI is assumed): the zip goes to an artifacts bucket (ARTIFACTS_BUCKET, else
`csp-portal-artifacts-<account>-<region>`, created versioned, encrypted and private), the template's
CodeUri points at it, the template itself goes to S3 when over CloudFormation's 51 200-byte inline
limit, and a change set (CREATE or UPDATE) is printed, then executed unless CONFIRM=no, waited for,
and the stack's outputs printed. Parameters not given on an update keep their previous values.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import boto3
from botocore.exceptions import ClientError, NoCredentialsError, WaiterError

# CloudFormation's TemplateBody limit; larger templates must be given as an S3 URL.
TEMPLATE_BODY_LIMIT = 51_200
# The SAM transform creates IAM roles (named and not) and expands into more resources.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# make variable → the template's parameter (names fixed by infra/resources.json).
NAMED_PARAMETERS = {"domain": "DomainName", "certificate_arn": "CertificateArn", "sender": "MailSender",
                    "alarm_email": "AlarmEmail"}
# Stacks left by a first create that never finished: a new CREATE change set replaces them.
NOT_YET_CREATED = ("REVIEW_IN_PROGRESS",)
NO_CHANGES = ("didn't contain changes", "No updates are to be performed", "does not contain any changes")


class DeployError(Exception):
    pass


@dataclass
class Options:
    stage: str
    stack: str
    region: str
    build_dir: str = "build"
    bucket: Optional[str] = None
    parameters: Dict[str, str] = field(default_factory=dict)
    execute: bool = True


def parse_parameters(text: str) -> Dict[str, str]:
    """PARAMS="Key=Value Key2='a value'" (shell-quoted, as `aws cloudformation deploy` takes them)."""
    out = {}
    for item in shlex.split(text or ""):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(f"PARAMS: {item!r} is not Key=Value")
        out[key] = value
    return out


def options_from(argv: List[str], environ=os.environ) -> Options:
    parser = argparse.ArgumentParser(description="Deploy build/sam.json through a CloudFormation change set.")
    parser.add_argument("--stage", default="")
    parser.add_argument("--stack", default="", help="stack name (default csp-portal-<stage>)")
    parser.add_argument("--bucket", default="", help="artifacts bucket (default csp-portal-artifacts-<account>-<region>)")
    parser.add_argument("--build-dir", default="build")
    for name in NAMED_PARAMETERS:
        parser.add_argument("--" + name.replace("_", "-"), default="")
    parser.add_argument("--params", default="", help='other parameters: "Key=Value Key2=Value2"')
    parser.add_argument("--confirm", default="yes", help="no: print the change set and stop (dry run)")
    args = parser.parse_args(argv)
    if not args.stage:
        raise DeployError("STAGE is required: make deploy STAGE=prod")
    if args.stage != "prod":
        # `make package` builds the prod stage's template (its policy, table, queue and bucket
        # names are fixed per account): any other STAGE would deploy prod under another name.
        raise DeployError(f"STAGE={args.stage}: only STAGE=prod can be deployed (one stage per AWS account; "
                          "for a test stage use a second AWS account with STAGE=prod)")
    parameters = parse_parameters(args.params)
    for name, parameter in NAMED_PARAMETERS.items():
        value = getattr(args, name)
        if value:
            if parameter in parameters and parameters[parameter] != value:
                raise DeployError(f"{parameter} given twice (as a make variable and in PARAMS)")
            parameters[parameter] = value
    confirm = args.confirm.strip().lower()
    if confirm not in ("yes", "y", "no", "n", "dry-run", ""):
        raise DeployError(f"CONFIRM={args.confirm}: use yes or no")
    return Options(stage=args.stage, stack=args.stack or f"csp-portal-{args.stage}",
                   region=environ.get("AWS_DEFAULT_REGION") or "sa-east-1", build_dir=args.build_dir,
                   bucket=args.bucket or None, parameters=parameters,
                   execute=confirm not in ("no", "n", "dry-run"))


# --- artifacts ---------------------------------------------------------------------------------

def artifacts_bucket(s3, options: Options, account: str) -> str:
    """The given bucket (must exist; left as its owner set it), or the project's own, created once
    and kept versioned, encrypted and private."""
    if options.bucket:
        try:
            s3.head_bucket(Bucket=options.bucket)
        except ClientError as error:
            raise DeployError(f"ARTIFACTS_BUCKET {options.bucket}: {error.response['Error'].get('Code')}")
        return options.bucket
    name = f"csp-portal-artifacts-{account}-{options.region}"
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as error:
        if error.response["Error"].get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"artifacts bucket {name}: {error.response['Error'].get('Code')}")
        print(f"creating the artifacts bucket {name}")
        kwargs = {} if options.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": options.region}}
        s3.create_bucket(Bucket=name, **kwargs)
    # Applied on every run: idempotent, and a bucket created by a run that stopped halfway is completed.
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    return name


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def upload(s3, bucket: str, key: str, path: str) -> Dict[str, str]:
    """Content-addressed: the same zip is the same object, so an unchanged package changes no code."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        print(f"s3://{bucket}/{key} already uploaded")
    except ClientError as error:
        if error.response["Error"].get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        print(f"uploading {path} to s3://{bucket}/{key}")
        s3.upload_file(path, bucket, key)
        head = s3.head_object(Bucket=bucket, Key=key)
    location = {"Bucket": bucket, "Key": key}
    if head.get("VersionId") and head["VersionId"] != "null":
        location["Version"] = head["VersionId"]
    return location


def is_local(uri) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def package_template(s3, template: dict, template_dir: str, bucket: str, prefix: str) -> dict:
    """The template with every local CodeUri (functions, Globals) and ContentUri (layers) replaced by
    the uploaded object, as `aws cloudformation package` does."""
    packaged = copy.deepcopy(template)
    uploaded: Dict[str, Dict[str, str]] = {}

    def location(uri: str) -> Dict[str, str]:
        path = os.path.normpath(os.path.join(template_dir, uri))
        if not os.path.isfile(path):
            raise DeployError(f"{uri} (from the template) not found: run make package")
        if path not in uploaded:
            uploaded[path] = upload(s3, bucket, f"{prefix}/{sha256_of(path)}.zip", path)
        return uploaded[path]

    globals_function = packaged.get("Globals", {}).get("Function", {})
    if is_local(globals_function.get("CodeUri")):
        globals_function["CodeUri"] = location(globals_function["CodeUri"])
    for resource in packaged.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
            resource.get("Type"))
        if key and is_local(properties.get(key)):
            properties[key] = location(properties[key])
    return packaged


# --- CloudFormation ----------------------------------------------------------------------------

def existing_stack(cfn, name: str) -> Optional[dict]:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return None
        raise
    return stacks[0] if stacks else None


def stack_parameters(template: dict, given: Dict[str, str], stack: Optional[dict]) -> List[dict]:
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(f"the template declares no parameter {', '.join(unknown)} "
                          f"(it has: {', '.join(sorted(declared))})")
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    out = [{"ParameterKey": key, "ParameterValue": value} for key, value in sorted(given.items())]
    # As `aws cloudformation deploy`: on an update, what is not given keeps its value (not the default).
    out += [{"ParameterKey": key, "UsePreviousValue": True} for key in sorted(declared)
            if key not in given and key in previous]
    return out


def check_alarm_email(options: Options, stack: Optional[dict]) -> None:
    """A prod stack whose alarms notify nobody is refused: ALARM_EMAIL, or the one it already has."""
    given = options.parameters.get("AlarmEmail")
    if given is not None:
        if "@" not in given:
            raise DeployError(f"ALARM_EMAIL={given} is not an email address")
        return
    if options.stage != "prod":
        return
    kept = {p["ParameterKey"]: p.get("ParameterValue") for p in (stack or {}).get("Parameters", [])}
    if kept.get("AlarmEmail"):
        print(f"AlarmEmail: keeping {kept['AlarmEmail']}")
        return
    raise DeployError("a prod deploy needs ALARM_EMAIL=<operators' address>: the alarms (DLQs, errors, billing "
                      "runs, bounces) are emailed there, and without it nobody would hear them")


def describe_changes(cfn, stack: str, change_set: str) -> List[dict]:
    changes, token = [], None
    while True:
        page = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set,
                                       **({"NextToken": token} if token else {}))
        changes += [c["ResourceChange"] for c in page.get("Changes", []) if "ResourceChange" in c]
        token = page.get("NextToken")
        if not token:
            return changes


def print_changes(changes: List[dict]) -> None:
    print(f"{len(changes)} change(s):")
    for change in changes:
        replacement = change.get("Replacement")
        note = "  (REPLACES the resource)" if replacement == "True" else \
            "  (may replace the resource)" if replacement == "Conditional" else ""
        print(f"  {change.get('Action', '?'):<8} {change.get('LogicalResourceId', '?'):<40} "
              f"{change.get('ResourceType', '')}{note}")


def failure_events(cfn, stack: str, since: float) -> List[str]:
    try:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except ClientError:
        return []
    return [f"  {e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
            for e in reversed(events) if e["ResourceStatus"].endswith("FAILED")
            and e["Timestamp"].timestamp() >= since]


def run_spend_backfill(table: str, region: str) -> dict:
    """The spend aggregate's backfill (issue #21 §1) against the stage's table: idempotent, so every
    deploy runs it (a first deploy of the aggregate counts the older invoices; later ones, nothing)."""
    from chalicelib.services.spend import backfill_spend
    from infra.backfill_spend import deps_for

    return backfill_spend(deps_for(table, region))


def run_closing_shards_backfill(table: str, region: str) -> dict:
    """The sharded closing-day index's backfill (issue #22 §4) against the stage's table: contracts
    written before the shards moved to theirs. Idempotent, so every deploy runs it (the first one
    moves them; later ones find nothing). Never the pass that marks the table: a Lambda may still
    run the code before this release (the operator reruns it a quarter-hour later)."""
    from chalicelib.services.closing_shards import backfill_closing_shards
    from infra.backfill_closing_shards import deps_for

    return backfill_closing_shards(deps_for(table, region), may_mark=False)


def run_credit_markers_backfill(table: str, region: str) -> dict:
    """The credit notes' markers in their organisations' collections (issue #22 §1) against the
    stage's table: notes left from before them marked. Idempotent, so every deploy runs it; never
    the pass that marks the table (as above)."""
    from chalicelib.services.credit_markers import backfill_credit_markers
    from infra.backfill_credit_markers import deps_for

    return backfill_credit_markers(deps_for(table, region), may_mark=False)


def deploy(options: Options, s3, cfn, sts, backfill: Callable[[str, str], dict] = run_spend_backfill,
           shard_backfill: Callable[[str, str], dict] = run_closing_shards_backfill,
           credit_backfill: Callable[[str, str], dict] = run_credit_markers_backfill) -> int:
    template_path = os.path.join(options.build_dir, "sam.json")
    if not os.path.isfile(template_path):
        raise DeployError(f"{template_path} not found: run make package")
    with open(template_path) as fh:
        template = json.load(fh)

    stack = existing_stack(cfn, options.stack)
    if stack and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployError(f"stack {options.stack} is ROLLBACK_COMPLETE (its first create failed): delete it "
                          "in the CloudFormation console (retained resources stay), then deploy again")
    if stack and stack["StackStatus"].endswith("_IN_PROGRESS") and stack["StackStatus"] not in NOT_YET_CREATED:
        raise DeployError(f"stack {options.stack} is {stack['StackStatus']}: wait for it to finish")
    change_set_type = "UPDATE" if stack and stack["StackStatus"] not in NOT_YET_CREATED else "CREATE"
    check_alarm_email(options, stack)
    parameters = stack_parameters(template, options.parameters, stack if change_set_type == "UPDATE" else None)

    account = sts.get_caller_identity()["Account"]
    bucket = artifacts_bucket(s3, options, account)
    packaged = package_template(s3, template, os.path.dirname(os.path.abspath(template_path)), bucket,
                                options.stack)
    body = json.dumps(packaged, indent=1, sort_keys=True)
    with open(os.path.join(options.build_dir, "packaged.json"), "w") as fh:
        fh.write(body)
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        key = f"{options.stack}/template-{hashlib.sha256(body.encode()).hexdigest()}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
        host = "s3.amazonaws.com" if options.region == "us-east-1" else f"s3.{options.region}.amazonaws.com"
        source = {"TemplateURL": f"https://{bucket}.{host}/{key}"}
        print(f"template: s3://{bucket}/{key}")
    else:
        source = {"TemplateBody": body}

    print("parameters: " + (", ".join(
        f"{p['ParameterKey']}={'(kept)' if p.get('UsePreviousValue') else p['ParameterValue']}" for p in parameters)
        or "the template's defaults"))
    change_set = f"deploy-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    started = time.time()
    print(f"{change_set_type} change set {change_set} on stack {options.stack} ({options.region})")
    cfn.create_change_set(
        StackName=options.stack, ChangeSetName=change_set, ChangeSetType=change_set_type,
        Parameters=parameters, Capabilities=CAPABILITIES,
        Tags=[{"Key": "project", "Value": "csp-portal"}, {"Key": "stage", "Value": options.stage}],
        Description=f"make deploy STAGE={options.stage}", **source)
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=options.stack, ChangeSetName=change_set, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    except WaiterError:
        described = cfn.describe_change_set(StackName=options.stack, ChangeSetName=change_set)
        reason = described.get("StatusReason", "")
        discard(cfn, options.stack, change_set, change_set_type)
        if any(marker in reason for marker in NO_CHANGES):
            print("nothing to deploy: the stack already is this template with these parameters")
            return 0
        raise DeployError(f"change set failed: {reason}")

    print_changes(describe_changes(cfn, options.stack, change_set))
    if not options.execute:
        discard(cfn, options.stack, change_set, change_set_type)
        print("dry run (CONFIRM=no): nothing executed, the change set is deleted")
        return 0

    cfn.execute_change_set(StackName=options.stack, ChangeSetName=change_set)
    print("executing; waiting for the stack (this takes minutes)…")
    waiter = "stack_create_complete" if change_set_type == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=options.stack, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
    except WaiterError as error:
        print(f"deploy failed: {error}", file=sys.stderr)
        for line in failure_events(cfn, options.stack, started):
            print(line, file=sys.stderr)
        return 1
    final = existing_stack(cfn, options.stack) or {}
    print(f"{options.stack}: {final.get('StackStatus')}")
    for output in sorted(final.get("Outputs", []), key=lambda o: o["OutputKey"]):
        print(f"  {output['OutputKey']} = {output['OutputValue']}")
    # After the stack (the code that keeps the aggregate is live): count what came before it.
    table = f"csp-portal-{options.stage}"
    rerun = f"python -m infra.backfill_spend --stage {options.stage} --region {options.region}"
    failed = False
    try:
        done = backfill(table, options.region)
    except Exception as error:  # noqa: BLE001 - the stack is deployed; say what to run again
        print(f"spend backfill failed ({type(error).__name__}: {error}): run `{rerun}`", file=sys.stderr)
        failed = True
    else:
        print("spend backfill: " + json.dumps(done, sort_keys=True))
        if done.get("failed"):
            print(f"spend backfill: {done['failed']} invoice(s) not counted (see the log): run `{rerun}`",
                  file=sys.stderr)
            failed = True
    # The closing-day shards and the credit notes' markers (issue #22 §4, §1): what was written
    # before them moved or marked (until then the runs read the older places too: a failure here
    # delays nothing, misses nothing).
    ok = all([_marker_backfill(
                 "closing shards", shard_backfill, table, options, "infra.backfill_closing_shards",
                 "contract(s) not moved", "stop reading the unsharded partitions"),
              _marker_backfill(
                 "credit markers", credit_backfill, table, options, "infra.backfill_credit_markers",
                 "organisation(s) or note(s) not marked", "read the credit notes with the contract, not from the index")])
    return 1 if failed or not ok else 0


def _marker_backfill(name: str, run: Callable[[str, str], dict], table: str, options: Options, module: str,
                     not_done: str, then: str) -> bool:
    """One of the backfills that end by writing a marker on the table once a pass finds nothing
    left to do — never the pass run here, right after the stack update, while a Lambda may still
    run the code before this release: its outcome printed, and the command to run again when it
    failed or the table is not marked yet (`"marked"`). False on a failure."""
    rerun = f"python -m {module} --stage {options.stage} --region {options.region}"
    try:
        done = run(table, options.region)
    except Exception as error:  # noqa: BLE001 - the stack is deployed; say what to run again
        print(f"{name} backfill failed ({type(error).__name__}: {error}): run `{rerun}`", file=sys.stderr)
        return False
    print(f"{name} backfill: " + json.dumps(done, sort_keys=True))
    if done.get("failed"):
        print(f"{name} backfill: {done['failed']} {not_done} (see the log): run `{rerun}`", file=sys.stderr)
        return False
    if not done.get("marked"):
        print(f"{name} backfill: the table is not marked yet; in a quarter-hour (once no Lambda runs the code "
              f"before this release), run `{rerun}` so the runs {then}")
    return True


def discard(cfn, stack: str, change_set: str, change_set_type: str) -> None:
    """Remove an unexecuted change set; for a CREATE, also the empty REVIEW_IN_PROGRESS stack that
    CloudFormation made to hold it, so a dry run leaves no stack behind."""
    cfn.delete_change_set(StackName=stack, ChangeSetName=change_set)
    if change_set_type == "CREATE":
        cfn.delete_stack(StackName=stack)


def main(argv=None) -> int:
    try:
        options = options_from(sys.argv[1:] if argv is None else argv)
        session = boto3.Session(region_name=options.region)
        return deploy(options, session.client("s3"), session.client("cloudformation"), session.client("sts"))
    except DeployError as error:
        print(f"deploy refused: {error}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print("deploy refused: no AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
              file=sys.stderr)
        return 2
    except ClientError as error:
        print(f"deploy failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
