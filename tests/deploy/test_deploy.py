"""`make deploy` (infra/deploy.py) against the embedded AWS (tests/conftest.py's moto server): the
zip and the template land in S3 with CodeUri rewritten, the change set carries the parameters and
capabilities, a dry run leaves no stack, a prod deploy without an alarm address is refused.

moto's CloudFormation creates and describes change sets (it even reads the template from S3) but
cannot execute one with the SAM transform (it has no AWS::Serverless::* resources). So the create
→ change set → dry run path runs on moto, and what follows an execution (waiting, outputs, updates
that keep previous values, an empty change set) runs on `RecordingCloudFormation`, a recorded
stand-in for the CloudFormation client. No real deploy is possible from here."""
import json
import os
import subprocess
import zipfile

import boto3
import pytest
import requests
from botocore.exceptions import WaiterError

from infra import deploy
from tests.conftest import PROJECT_DIR, REGION

ACCOUNT = "123456789012"  # moto's
BUCKET = f"csp-portal-artifacts-{ACCOUNT}-{REGION}"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
PROD = ["--stage", "prod", "--alarm-email", "plantao@brasoftware.com.br",
        "--sender", "Brasoftware Cloud <nao-responda@brasoftware.com.br>", "--domain", "api.brasoftwarecloud.com.br",
        "--certificate-arn", CERTIFICATE, "--params", "NfseProvider=sefin BankProvider=real"]


def sam_template(padding=0):
    """What `make package` writes, in small: the SAM transform, functions whose CodeUri is the zip
    beside the template, the parameters infra/resources.json declares."""
    parameters = {name: {"Type": "String", "Default": ""}
                  for name in ("AlarmEmail", "DomainName", "CertificateArn", "MailSender")}
    parameters.update({"NfseProvider": {"Type": "String", "Default": "simulated"},
                       "BankProvider": {"Type": "String", "Default": "simulated"}})
    function = {"Runtime": "python3.11", "Handler": "app.app", "CodeUri": "./deployment.zip"}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Transform": "AWS::Serverless-2016-10-31",
            "Parameters": parameters,
            "Metadata": {"Padding": "x" * padding},
            "Resources": {"APIHandler": {"Type": "AWS::Serverless::Function", "Properties": dict(function)},
                          "DeliverEmails": {"Type": "AWS::Serverless::Function", "Properties": dict(function)},
                          "OperatorAlarmsTopic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"TopicArn": {"Value": {"Ref": "OperatorAlarmsTopic"}}}}


@pytest.fixture
def build(tmp_path):
    def make(padding=0):
        with zipfile.ZipFile(tmp_path / "deployment.zip", "w") as archive:
            archive.writestr("app.py", "app = None\n")
        (tmp_path / "sam.json").write_text(json.dumps(sam_template(padding)))
        return tmp_path
    return make


@pytest.fixture
def aws(moto_endpoint):
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    return {name: boto3.client(name, region_name=REGION) for name in ("s3", "cloudformation", "sts")}


class Recording:
    """The moto client, with every create_change_set call's arguments kept."""

    def __init__(self, client):
        self._client, self.change_sets = client, []

    def __getattr__(self, name):
        return getattr(self._client, name)

    def create_change_set(self, **kwargs):
        self.change_sets.append(kwargs)
        return self._client.create_change_set(**kwargs)


BACKFILLS = []


def recorded_backfill(table, region):
    BACKFILLS.append((table, region))
    return {"organizations": 1, "invoices": 2, "counted": 2, "already": 0, "failed": 0}


SHARD_BACKFILLS = []  # the closing-day shards' backfill (issue #22 §4)


def recorded_shard_backfill(table, region):
    SHARD_BACKFILLS.append((table, region))
    return {"found": 3, "moved": 2, "skipped": 1, "failed": 0, "marked": False}


CREDIT_BACKFILLS = []  # the credit notes' markers in their collections (issue #22 §1)


def throttled_backfill(table, region):
    """A backfill whose first request DynamoDB refuses."""
    raise RuntimeError("throttled")


def recorded_credit_backfill(table, region):
    CREDIT_BACKFILLS.append((table, region))
    return {"organizations": 2, "open_notes": 1, "marked_now": 0, "failed": 0, "marked": True}


def run(argv, build_dir, s3, cfn, sts, backfill=recorded_backfill, shard_backfill=recorded_shard_backfill,
        credit_backfill=recorded_credit_backfill):
    options = deploy.options_from(argv + ["--build-dir", str(build_dir)], environ={"AWS_DEFAULT_REGION": REGION})
    return deploy.deploy(options, s3, cfn, sts, backfill=backfill, shard_backfill=shard_backfill,
                         credit_backfill=credit_backfill)


def no_stack(cfn, name):
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except cfn.exceptions.ClientError as error:
        return "does not exist" in str(error)
    return all(stack["StackStatus"] == "DELETE_COMPLETE" for stack in stacks)


def test_a_dry_run_uploads_zip_and_template_with_codeuri_rewritten_passes_parameters_and_leaves_no_stack(
        aws, build, capsys):
    build_dir = build(padding=60_000)  # over the 51 200 bytes CloudFormation takes inline
    cfn = Recording(aws["cloudformation"])

    assert run(PROD + ["--confirm", "no"], build_dir, aws["s3"], cfn, aws["sts"]) == 0

    s3 = aws["s3"]
    # The artifacts bucket, created private, versioned and encrypted.
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    # The zip, once for both functions, and the template that points at it.
    [change_set] = cfn.change_sets
    assert "TemplateBody" not in change_set
    template_key = change_set["TemplateURL"].split(".amazonaws.com/", 1)[1]
    assert change_set["TemplateURL"] == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{template_key}"
    uploaded = json.loads(s3.get_object(Bucket=BUCKET, Key=template_key)["Body"].read())
    uris = {name: r["Properties"]["CodeUri"] for name, r in uploaded["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}
    assert set(uris) == {"APIHandler", "DeliverEmails"}
    code = uris["APIHandler"]
    assert uris["DeliverEmails"] == code and code["Bucket"] == BUCKET and code["Key"].startswith("csp-portal-prod/")
    stored = s3.get_object(Bucket=BUCKET, Key=code["Key"], VersionId=code["Version"])["Body"].read()
    assert stored == (build_dir / "deployment.zip").read_bytes()
    assert json.loads((build_dir / "packaged.json").read_text()) == uploaded
    # The change set: a CREATE of csp-portal-prod, every capability the SAM transform needs, the parameters.
    assert change_set["StackName"] == "csp-portal-prod" and change_set["ChangeSetType"] == "CREATE"
    assert set(change_set["Capabilities"]) == {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert {p["ParameterKey"]: p["ParameterValue"] for p in change_set["Parameters"]} == {
        "AlarmEmail": "plantao@brasoftware.com.br", "MailSender": "Brasoftware Cloud <nao-responda@brasoftware.com.br>",
        "DomainName": "api.brasoftwarecloud.com.br", "CertificateArn": CERTIFICATE,
        "NfseProvider": "sefin", "BankProvider": "real"}
    out = capsys.readouterr().out
    assert "APIHandler" in out and "dry run (CONFIRM=no)" in out
    # Nothing executed: no stack (not even the empty one a CREATE change set makes to hold it).
    assert no_stack(aws["cloudformation"], "csp-portal-prod")


def test_a_small_template_goes_inline_and_stack_overrides_the_name(aws, build):
    cfn = Recording(aws["cloudformation"])

    assert run(PROD + ["--confirm", "no", "--stack", "portal-homolog"], build(), aws["s3"], cfn, aws["sts"]) == 0

    [change_set] = cfn.change_sets
    assert change_set["StackName"] == "portal-homolog" and "TemplateURL" not in change_set
    body = json.loads(change_set["TemplateBody"])
    assert body["Resources"]["APIHandler"]["Properties"]["CodeUri"]["Bucket"] == BUCKET
    assert no_stack(aws["cloudformation"], "portal-homolog")


def test_a_prod_deploy_without_an_alarm_address_is_refused_before_anything_is_written(aws, build, capsys):
    cfn = Recording(aws["cloudformation"])
    argv = [a for a in PROD if a not in ("--alarm-email", "plantao@brasoftware.com.br")]

    with pytest.raises(deploy.DeployError, match="ALARM_EMAIL"):
        run(argv, build(), aws["s3"], cfn, aws["sts"])

    assert cfn.change_sets == []
    assert aws["s3"].list_buckets()["Buckets"] == []
    assert no_stack(aws["cloudformation"], "csp-portal-prod")


@pytest.mark.parametrize("argv, message", [
    (["--params", "NfseProvidr=sefin"], "declares no parameter NfseProvidr"),
    (["--params", "NfseProvider"], "is not Key=Value"),
    (["--alarm-email", "plantao"], "is not an email address"),
])
def test_bad_parameters_are_refused_before_anything_is_written(aws, build, argv, message):
    cfn = Recording(aws["cloudformation"])
    base = ["--stage", "prod", "--alarm-email", "plantao@brasoftware.com.br"]

    with pytest.raises(deploy.DeployError, match=message):
        run(base + argv, build(), aws["s3"], cfn, aws["sts"])

    assert cfn.change_sets == [] and aws["s3"].list_buckets()["Buckets"] == []


def test_the_command_line_refuses_with_a_clear_message_and_a_failing_exit(tmp_path, capsys):
    assert deploy.main(["--build-dir", str(tmp_path)]) == 2
    assert "STAGE is required" in capsys.readouterr().err


@pytest.mark.parametrize("stage", ["dev", "staging", "Prod"])
def test_a_stage_other_than_prod_is_refused_before_anything_is_written(aws, build, capsys, stage):
    # make package always builds the prod template: STAGE=dev would deploy prod as csp-portal-dev.
    cfn = Recording(aws["cloudformation"])

    with pytest.raises(deploy.DeployError, match=f"STAGE={stage}: only STAGE=prod can be deployed"):
        run(["--stage", stage, "--alarm-email", "plantao@brasoftware.com.br"], build(), aws["s3"], cfn, aws["sts"])

    assert cfn.change_sets == [] and aws["s3"].list_buckets()["Buckets"] == []
    assert deploy.main(["--stage", stage]) == 2
    assert f"deploy refused: STAGE={stage}: only STAGE=prod" in capsys.readouterr().err


def test_make_refuses_another_stage_before_packaging():
    result = subprocess.run(["make", "-s", "deploy-args", "STAGE=dev"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "only STAGE=prod can be deployed" in result.stdout


class Waiter:
    def __init__(self, cfn, name):
        self.cfn, self.name = cfn, name

    def wait(self, **kwargs):
        self.cfn.calls.append(("wait", self.name))
        failure = self.cfn.fail_waiters.get(self.name)
        if failure:
            raise WaiterError(self.name, "Waiter encountered a terminal failure state", {})
        if self.name == "stack_create_complete" or self.name == "stack_update_complete":
            self.cfn.stack = {"StackName": "csp-portal-prod", "StackStatus": self.name.split("_")[1].upper() + "_COMPLETE",
                              "Parameters": [], "Outputs": [{"OutputKey": "RestAPIId", "OutputValue": "abc123"}]}


class RecordingCloudFormation:
    """CloudFormation as the deploy sees it once moto cannot follow (executing a SAM change set):
    one stack (or none), every call recorded."""

    def __init__(self, stack=None, changes=(), fail_waiters=None, status_reason=""):
        self.stack, self.changes, self.calls = stack, list(changes), []
        self.fail_waiters, self.status_reason = fail_waiters or {}, status_reason
        self.exceptions = boto3.client("cloudformation", region_name=REGION).exceptions

    def describe_stacks(self, StackName):
        if self.stack is None:
            raise self.exceptions.ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}},
                "DescribeStacks")
        return {"Stacks": [self.stack]}

    def create_change_set(self, **kwargs):
        self.calls.append(("create_change_set", kwargs))

    def get_waiter(self, name):
        return Waiter(self, name)

    def describe_change_set(self, **kwargs):
        return {"Changes": [{"ResourceChange": change} for change in self.changes], "StatusReason": self.status_reason}

    def execute_change_set(self, **kwargs):
        self.calls.append(("execute_change_set", kwargs))

    def delete_change_set(self, **kwargs):
        self.calls.append(("delete_change_set", kwargs))

    def delete_stack(self, **kwargs):
        self.calls.append(("delete_stack", kwargs))

    def describe_stack_events(self, StackName):
        return {"StackEvents": []}

    def names(self):
        return [call[0] if call[0] != "wait" else f"wait {call[1]}" for call in self.calls]


CHANGE = {"Action": "Add", "LogicalResourceId": "OperatorAlarmsTopic", "ResourceType": "AWS::SNS::Topic"}


def test_a_confirmed_deploy_executes_the_change_set_waits_and_prints_the_outputs(aws, build, capsys):
    cfn = RecordingCloudFormation(changes=[CHANGE])

    assert run(PROD, build(), aws["s3"], cfn, aws["sts"]) == 0

    assert cfn.names() == ["create_change_set", "wait change_set_create_complete", "execute_change_set",
                           "wait stack_create_complete"]
    out = capsys.readouterr().out
    assert "Add      OperatorAlarmsTopic" in out
    assert "CREATE_COMPLETE" in out and "RestAPIId = abc123" in out
    assert BACKFILLS[-1] == ("csp-portal-prod", REGION) and '"counted": 2' in out


def test_the_spend_backfill_runs_only_after_a_deploy_that_succeeded_and_its_failure_fails_the_command(
        aws, build, capsys):
    BACKFILLS.clear()
    failed = RecordingCloudFormation(changes=[CHANGE], fail_waiters={"stack_create_complete": True})
    assert run(PROD, build(), aws["s3"], failed, aws["sts"]) == 1 and BACKFILLS == []
    assert run(PROD + ["--confirm", "no"], build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]),
               aws["sts"]) == 0 and BACKFILLS == []

    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"], backfill=throttled_backfill) == 1
    err = capsys.readouterr().err
    assert "spend backfill failed (RuntimeError: throttled)" in err and "python -m infra.backfill_spend --stage prod" in err
    partial = {"organizations": 1, "invoices": 2, "counted": 1, "already": 0, "failed": 1}
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               backfill=lambda table, region: partial) == 1
    assert "1 invoice(s) not counted" in capsys.readouterr().err


def test_the_real_backfill_counts_the_stage_table_s_invoices(monkeypatch):
    calls = []
    monkeypatch.setattr("infra.backfill_spend.deps_for", lambda table, region: calls.append((table, region)) or "deps")
    monkeypatch.setattr("chalicelib.services.spend.backfill_spend", lambda deps: {"deps": deps})
    assert deploy.run_spend_backfill("csp-portal-prod", REGION) == {"deps": "deps"}
    assert calls == [("csp-portal-prod", REGION)]


def test_an_update_keeps_the_parameters_not_given_including_the_alarm_address(aws, build, capsys):
    existing = {"StackName": "csp-portal-prod", "StackStatus": "UPDATE_COMPLETE", "Parameters": [
        {"ParameterKey": "AlarmEmail", "ParameterValue": "plantao@brasoftware.com.br"},
        {"ParameterKey": "NfseProvider", "ParameterValue": "sefin"},
        {"ParameterKey": "MailSender", "ParameterValue": "x <nao-responda@brasoftware.com.br>"}]}
    cfn = RecordingCloudFormation(stack=existing, changes=[CHANGE])

    assert run(["--stage", "prod", "--params", "BankProvider=real"], build(), aws["s3"], cfn, aws["sts"]) == 0

    [(_, change_set)] = [call for call in cfn.calls if call[0] == "create_change_set"]
    assert change_set["ChangeSetType"] == "UPDATE"
    assert change_set["Parameters"] == [
        {"ParameterKey": "BankProvider", "ParameterValue": "real"},
        {"ParameterKey": "AlarmEmail", "UsePreviousValue": True},
        {"ParameterKey": "MailSender", "UsePreviousValue": True},
        {"ParameterKey": "NfseProvider", "UsePreviousValue": True}]
    assert cfn.names()[-1] == "wait stack_update_complete"
    out = capsys.readouterr().out
    assert "keeping plantao@brasoftware.com.br" in out
    assert "parameters: BankProvider=real, AlarmEmail=(kept), MailSender=(kept), NfseProvider=(kept)" in out


def test_an_empty_change_set_is_nothing_to_deploy(aws, build, capsys):
    existing = {"StackName": "csp-portal-prod", "StackStatus": "UPDATE_COMPLETE",
                "Parameters": [{"ParameterKey": "AlarmEmail", "ParameterValue": "plantao@brasoftware.com.br"}]}
    cfn = RecordingCloudFormation(stack=existing, fail_waiters={"change_set_create_complete": True},
                                  status_reason="The submitted information didn't contain changes. Submit different "
                                                "information to create a change set.")

    assert run(["--stage", "prod"], build(), aws["s3"], cfn, aws["sts"]) == 0

    assert "execute_change_set" not in cfn.names() and "delete_change_set" in cfn.names()
    assert "delete_stack" not in cfn.names()  # an UPDATE's stack is the live one
    assert "nothing to deploy" in capsys.readouterr().out


def test_a_failed_change_set_or_stack_fails_the_command(aws, build, capsys):
    failing = RecordingCloudFormation(fail_waiters={"change_set_create_complete": True},
                                      status_reason="Template format error")
    with pytest.raises(deploy.DeployError, match="Template format error"):
        run(PROD, build(), aws["s3"], failing, aws["sts"])
    assert failing.names()[-2:] == ["delete_change_set", "delete_stack"]

    rolled_back = RecordingCloudFormation(changes=[CHANGE], fail_waiters={"stack_create_complete": True})
    assert run(PROD, build(), aws["s3"], rolled_back, aws["sts"]) == 1
    assert "deploy failed" in capsys.readouterr().err


def test_a_stack_whose_first_create_failed_is_refused_with_what_to_do(aws, build):
    cfn = RecordingCloudFormation(stack={"StackName": "csp-portal-prod", "StackStatus": "ROLLBACK_COMPLETE"})

    with pytest.raises(deploy.DeployError, match="delete it"):
        run(PROD, build(), aws["s3"], cfn, aws["sts"])
    assert cfn.calls == []


def test_make_deploy_passes_the_make_variables_to_the_script():
    result = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "-o", "package", "deploy", "STAGE=prod", "ALARM_EMAIL=a@b.com.br",
         "SENDER=Cloud <n@b.com.br>", "DOMAIN=api.b.com.br", "CERTIFICATE_ARN=arn:cert", "PARAMS=NfseProvider=sefin",
         "CONFIRM=no", "ARTIFACTS_BUCKET=bkt", "STACK=s"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=30, env={**os.environ, "MAKEFLAGS": ""})
    assert result.returncode == 0, result.stderr
    command = result.stdout.replace("\\\n", " ")
    for expected in ('--stage "prod"', '--alarm-email "a@b.com.br"', '--sender "Cloud <n@b.com.br>"',
                     '--domain "api.b.com.br"', '--certificate-arn "arn:cert"', '--params "NfseProvider=sefin"',
                     '--confirm "no"', '--bucket "bkt"', '--stack "s"'):
        assert expected in command


def test_an_aws_refusal_is_one_line_and_a_failing_exit(aws, build, capsys, monkeypatch):
    """E.g. the credentials may not create the artifacts bucket: no traceback, what AWS said."""
    class Denied(RecordingCloudFormation):
        def create_change_set(self, **kwargs):
            raise self.exceptions.ClientError(
                {"Error": {"Code": "InsufficientCapabilitiesException", "Message": "Requires capabilities"}},
                "CreateChangeSet")

    build_dir = build()
    monkeypatch.setattr(deploy.boto3, "Session", lambda region_name: type("S", (), {
        "client": staticmethod(lambda name: Denied() if name == "cloudformation" else aws[name])})())

    assert deploy.main(PROD + ["--build-dir", str(build_dir)]) == 1
    assert "deploy failed: An error occurred (InsufficientCapabilitiesException)" in capsys.readouterr().err


def test_the_closing_shards_backfill_runs_after_a_deploy_that_succeeded_even_if_the_spend_one_failed(
        aws, build, capsys):
    SHARD_BACKFILLS.clear()
    failed = RecordingCloudFormation(changes=[CHANGE], fail_waiters={"stack_create_complete": True})
    assert run(PROD, build(), aws["s3"], failed, aws["sts"]) == 1 and SHARD_BACKFILLS == []
    assert run(PROD + ["--confirm", "no"], build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]),
               aws["sts"]) == 0 and SHARD_BACKFILLS == []
    capsys.readouterr()

    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"]) == 0
    assert SHARD_BACKFILLS == [("csp-portal-prod", REGION)]
    out = capsys.readouterr().out
    assert '"moved": 2' in out
    # Contracts moved: the pass did not mark the index, so the operator is told to run it again.
    assert "in a quarter-hour" in out and "python -m infra.backfill_closing_shards --stage prod" in out
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               shard_backfill=lambda table, region: {"found": 0, "moved": 0, "skipped": 0, "failed": 0,
                                                     "marked": True}) == 0
    assert "in a quarter-hour" not in capsys.readouterr().out

    # The spend backfill failing does not keep the shards' from running; the command still fails.
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"], backfill=throttled_backfill) == 1
    assert len(SHARD_BACKFILLS) == 2
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               shard_backfill=throttled_backfill) == 1
    err = capsys.readouterr().err
    assert "closing shards backfill failed (RuntimeError: throttled)" in err
    assert "python -m infra.backfill_closing_shards --stage prod" in err
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               shard_backfill=lambda table, region: {"found": 1, "moved": 0, "skipped": 0, "failed": 1}) == 1
    assert "1 contract(s) not moved" in capsys.readouterr().err


def test_the_credit_markers_backfill_runs_after_a_deploy_even_if_the_shards_one_failed(aws, build, capsys):
    CREDIT_BACKFILLS.clear()

    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               shard_backfill=throttled_backfill) == 1
    assert CREDIT_BACKFILLS == [("csp-portal-prod", REGION)]
    out = capsys.readouterr().out
    assert 'credit markers backfill: {"failed": 0, "marked": true' in out
    assert "credit markers backfill: the table is not marked yet" not in out
    # The table not marked yet (the deploy's pass never marks it): the operator is told to run it again.
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               credit_backfill=lambda table, region: {"organizations": 2, "open_notes": 3, "marked_now": 3,
                                                      "failed": 0, "marked": False}) == 0
    out = capsys.readouterr().out
    assert "credit markers backfill: the table is not marked yet; in a quarter-hour" in out
    assert "python -m infra.backfill_credit_markers --stage prod" in out
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               credit_backfill=throttled_backfill) == 1
    err = capsys.readouterr().err
    assert "credit markers backfill failed (RuntimeError: throttled)" in err
    assert "python -m infra.backfill_credit_markers --stage prod" in err
    assert run(PROD, build(), aws["s3"], RecordingCloudFormation(changes=[CHANGE]), aws["sts"],
               credit_backfill=lambda table, region: {"organizations": 2, "open_notes": 1, "marked_now": 0,
                                                      "failed": 1, "marked": False}) == 1
    assert "1 organisation(s) or note(s) not marked" in capsys.readouterr().err


@pytest.mark.parametrize("module,service,function,run_it", [
    ("infra.backfill_closing_shards", "chalicelib.services.closing_shards", "backfill_closing_shards",
     deploy.run_closing_shards_backfill),
    ("infra.backfill_credit_markers", "chalicelib.services.credit_markers", "backfill_credit_markers",
     deploy.run_credit_markers_backfill)])
def test_the_real_marker_backfills_run_against_the_stage_table_and_never_mark_it(
        monkeypatch, module, service, function, run_it):
    calls = []
    monkeypatch.setattr(f"{module}.deps_for", lambda table, region: calls.append((table, region)) or "deps")
    monkeypatch.setattr(f"{service}.{function}", lambda deps, may_mark: {"deps": deps, "may_mark": may_mark})
    # Right after the stack update a Lambda may still run the older code: never the marking pass.
    assert run_it("csp-portal-prod", REGION) == {"deps": "deps", "may_mark": False}
    assert calls == [("csp-portal-prod", REGION)]
