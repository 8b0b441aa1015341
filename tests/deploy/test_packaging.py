"""`chalice package` produces a deployable template: the functions, the table with its index,
the queues with their dead-letter queues, the bucket and the user pool; templates travel in the zip.
What the on-call sees comes with it: an alarm per function and per dead-letter queue and on the
product's metrics, log groups with a retention, the SES configuration set publishing its events,
the API's throttling, traces, and the billing dashboard."""
import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile

import pytest

from chalicelib.observability import NAMESPACE, SERVICE, Metric
from chalicelib.settings import PROVIDERS, from_environ
from chalicelib.storage.models import TABLE_ATTRIBUTES, TABLE_GSIS, TABLE_KEY_SCHEMA

# One worker packages: chalice caches the zip under .chalice/deployments, one writer at a time.
pytestmark = pytest.mark.xdist_group("chalice_package")

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def project_copy(target):
    """What `chalice package` reads, copied apart: other test workers writing __pycache__ files in
    the working tree must not end up half-written in the zip."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments", "deployed")
    for name in ("app.py", "requirements.txt"):
        shutil.copy2(os.path.join(PROJECT_DIR, name), target / name)
    for name in ("chalicelib", "templates", "infra", ".chalice"):
        shutil.copytree(os.path.join(PROJECT_DIR, name), target / name, ignore=ignore)
    (target / "vendor").mkdir()
    os.symlink("../templates", target / "vendor" / "templates")
    return target


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    source = project_copy(tmp_path_factory.mktemp("project"))
    out = tmp_path_factory.mktemp("package")
    # As `make package` runs on a developer's machine: not with the local stack's settings, which the
    # tests' embedded AWS put in this process (WEBHOOKS_ALLOW_LOOPBACK is refused in the prod stage).
    env = {**{k: v for k, v in os.environ.items() if k != "WEBHOOKS_ALLOW_LOOPBACK"},
           "AWS_DEFAULT_REGION": "sa-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [os.path.join(BIN, "chalice"), "package", "--stage", "prod", "--merge-template", "infra/resources.json",
         str(out)], cwd=source, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    with open(out / "sam.json") as fh:
        template = json.load(fh)
    return out, template


def resources_of_type(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_the_template_has_the_api_and_the_email_worker_functions(package):
    _, template = package
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert {"APIHandler", "DeliverEmails"} <= set(functions)
    worker = functions["DeliverEmails"]["Properties"]
    [event] = worker["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["Queue"]["Fn::Sub"].endswith(":csp-portal-email")
    assert worker["Handler"] == "chalicelib.jobs.email.deliver_emails"


def test_the_email_workers_event_source_shares_ses_s_rate_and_fills_its_batches(package):
    # Issue #22 §5: at most MAXIMUM_CONCURRENCY invocations at once, each pacing its sends to its share
    # of SES_MAX_SEND_RATE; batches fill during a big run; the timeout lets a full batch go at that pace.
    from chalicelib.domain import send_rate
    from chalicelib.jobs import email
    from chalicelib.settings import from_environ

    _, template = package
    worker = resources_of_type(template, "AWS::Serverless::Function")["DeliverEmails"]["Properties"]
    [event] = worker["Events"].values()
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": email.MAXIMUM_CONCURRENCY}
    assert email.MAXIMUM_CONCURRENCY >= 2  # Lambda's minimum
    assert event["Properties"]["MaximumBatchingWindowInSeconds"] == email.BATCHING_WINDOW_SECONDS > 0
    assert event["Properties"]["BatchSize"] == email.BATCH_SIZE
    timeout = worker.get("Timeout") or template["Globals"]["Function"]["Timeout"]
    rate = send_rate.share(from_environ({}).ses_max_send_rate, email.MAXIMUM_CONCURRENCY)
    # The pace's waits, and a second per email for rendering, SES and the rest: well inside the timeout.
    assert send_rate.batch_seconds(email.BATCH_SIZE, rate) + email.BATCH_SIZE <= timeout


def test_every_function_finds_the_resources_through_its_environment(package):
    _, template = package
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == {"Ref": "PortalTable"}
    assert variables["USER_POOL_ID"] == {"Ref": "UserPool"}
    assert variables["USER_POOL_CLIENT_ID"] == {"Ref": "UserPoolWebClient"}
    assert variables["DOCUMENTS_BUCKET"] == {"Ref": "DocumentsBucket"}


def test_the_table_is_the_one_the_storage_layer_describes(package):
    _, template = package
    table = template["Resources"]["PortalTable"]["Properties"]
    assert table["KeySchema"] == TABLE_KEY_SCHEMA
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(TABLE_ATTRIBUTES, key=str)
    assert table["GlobalSecondaryIndexes"] == TABLE_GSIS
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_each_queue_the_app_uses_exists_with_a_dead_letter_queue(package):
    _, template = package
    queues = {r["Properties"]["QueueName"]: (name, r) for name, r in
              resources_of_type(template, "AWS::SQS::Queue").items()}
    settings = from_environ({})
    for queue in (settings.email_queue_name, settings.provisioning_queue_name, settings.billing_queue_name):
        _, resource = queues[queue]
        dlq_logical = resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert template["Resources"][dlq_logical]["Properties"]["QueueName"] == f"{queue}-dlq"


def test_bucket_and_user_pool_are_created(package):
    _, template = package
    assert resources_of_type(template, "AWS::S3::Bucket")
    [pool] = resources_of_type(template, "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["UsernameAttributes"] == ["email"]
    [client] = resources_of_type(template, "AWS::Cognito::UserPoolClient").values()
    assert "ALLOW_USER_PASSWORD_AUTH" in client["Properties"]["ExplicitAuthFlows"]


def test_the_lambda_zip_carries_the_code_and_the_jinja_templates(package):
    out, _ = package
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = set(archive.namelist())
    assert "app.py" in names and "chalicelib/api/http.py" in names
    assert {"templates/portal/index.html", "templates/portal/app.js", "templates/portal/core.js", "templates/portal/app.css"} <= names
    assert {"templates/email/user_invited.html", "templates/email/user_invited.txt",
            "templates/email/_layout.html"} <= names
    # The IBGE municipalities the address rules read (domain/addresses.py), with their licence.
    assert {"chalicelib/domain/data/municipios.csv.gz", "chalicelib/domain/data/NOTICE"} <= names
    assert not any(name.startswith(("tests/", "local/", ".venv/")) for name in names)


# What the slimmed zip may weigh (compressed; Lambda's limit is 50 MB): about 9.5 MB of the product
# and its libraries, 3 MB of lxml, xsdata and nfelib's NFS-e part, and 0.6 MB of msal and requests
# (Partner Center) with idna, charset-normalizer and certifi, and 0.5 MB of Powertools' Logger,
# Metrics and Tracer with the X-Ray SDK, slimmed (13.9 MB in November 2026); and each module's
# bytecode, 6 MB, which halves the imports of a cold start (20.1 MB in December 2026).
ZIP_BUDGET_BYTES = 21_000_000


def test_the_slimmed_zip_leaves_out_only_what_the_lambda_runtime_provides(package, tmp_path):
    from infra.slim_package import slim

    copy = tmp_path / "deployment.zip"
    shutil.copy2(package[0] / "deployment.zip", copy)
    before, after = slim(str(copy))
    with zipfile.ZipFile(copy) as archive:
        names = set(archive.namelist())
    tops = {name.split("/")[0] for name in names}
    assert not tops & {"botocore", "boto3", "s3transfer", "jmespath", "urllib3"}
    assert {"pynamodb", "jinja2", "jwt", "cryptography", "reportlab", "holidays", "chalicelib", "templates",
            "lxml", "xsdata", "nfelib", "msal", "requests"} <= tops
    assert "app.py" in names and after < before
    assert after < ZIP_BUDGET_BYTES, f"the zip weighs {after / 1e6:.1f} MB, over its {ZIP_BUDGET_BYTES / 1e6:.0f} MB budget"


def test_of_the_fiscal_libraries_the_zip_keeps_the_nfse_part_alone(package, tmp_path):
    """nfelib's other documents (NF-e, CT-e, MDF-e…), its samples and client, lxml's headers and
    Cython sources and the modules nothing imports, and xsdata's code generator are left out."""
    from infra.slim_package import slim

    copy = tmp_path / "deployment.zip"
    shutil.copy2(package[0] / "deployment.zip", copy)
    with zipfile.ZipFile(copy) as archive:
        shipped = set(archive.namelist())
    slim(str(copy))
    with zipfile.ZipFile(copy) as archive:
        names = set(archive.namelist())
    # chalice shipped the whole packages: the slimming is what removed them.
    assert any(n.startswith("nfelib/nfe/") for n in shipped) and any(n.startswith("lxml/includes/") for n in shipped)
    nfelib_parts = {n.split("/")[1] for n in names if n.startswith("nfelib/")}
    assert nfelib_parts == {"__init__.py", "__pycache__", "nfse"}  # and the bytecode of its __init__
    assert {"nfelib/nfse/schemas/v1_0/DPS_v1.01.xsd", "nfelib/nfse/schemas/v1_0/NFSe_v1.01.xsd",
            "nfelib/nfse/schemas/v1_0/pedRegEvento_v1.01.xsd", "nfelib/nfse/schemas/v1_0/evento_v1.01.xsd",
            "nfelib/nfse/bindings/v1_0/dps_v1_01.py"} <= names
    assert not [n for n in names if n.startswith(("nfelib/nfse/client/", "nfelib/nfse/samples/", "lxml/includes/",
                                                  "lxml/html/", "xsdata/codegen/")) or n.endswith((".pyx", ".pxi"))]


def test_lxml_is_the_manylinux_wheel_for_the_lambda_s_python(package):
    # chalice downloads wheels for the Lambda's platform (Linux x86_64, CPython 3.11): a wheel built
    # for this machine, or an sdist, would not load there.
    out, _ = package
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = set(archive.namelist())
        [wheel] = [n for n in names if n.startswith("lxml-") and n.endswith(".dist-info/WHEEL")]
        tags = [line.split(": ", 1)[1] for line in archive.read(wheel).decode().splitlines() if line.startswith("Tag:")]
    assert tags and all(t.startswith("cp311-cp311-manylinux") and t.endswith("x86_64") for t in tags)
    assert "lxml/etree.cpython-311-x86_64-linux-gnu.so" in names


def test_the_a1_certificate_s_secret_is_a_placeholder_only_the_emitting_functions_may_read(package):
    _, template = package
    [(name, secret)] = [(n, s) for n, s in resources_of_type(template, "AWS::SecretsManager::Secret").items()
                        if s["Properties"]["Name"] == from_environ({}).nfse_certificate_secret]
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"  # the reseller's certificate
    assert json.loads(secret["Properties"]["SecretString"]) == {"pkcs12_base64": "", "password": ""}
    assert "put-secret-value" in secret["Properties"]["Description"]
    assert secret["Properties"]["Name"] == from_environ({}).nfse_certificate_secret
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["NFSE_CERTIFICATE_SECRET"] == {"Ref": name}
    assert variables["NFSE_PROVIDER"] == {"Ref": "NfseProvider"}
    assert variables["NFSE_ENVIRONMENT"] == {"Ref": "NfseEnvironment"}
    parameters = template["Parameters"]
    assert (parameters["NfseProvider"]["Default"], parameters["NfseEnvironment"]["Default"]) == ("simulated", "2")
    assert set(parameters["NfseProvider"]["AllowedValues"]) == {"simulated", "sefin"}
    # Who may read it: GetSecretValue on this secret only, granted to the roles of the functions that
    # emit or cancel a note (the API: cancellation, re-emission; the billing worker: emission). A
    # function that starts emitting needs its role added in infra/resources.json.
    [policy] = secret_grants(template, name)
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": name}}]
    roles = {r["Ref"] for r in policy["Properties"]["Roles"]}
    functions = resources_of_type(template, "AWS::Serverless::Function")
    role_of = {f: props["Properties"]["Role"]["Fn::GetAtt"][0] for f, props in functions.items()}
    assert roles == {role_of["APIHandler"], role_of["BillContracts"]}
    assert functions["BillContracts"]["Properties"]["Handler"] == "chalicelib.jobs.billing.bill_contracts"
    # No other statement of any role reaches Secrets Manager.
    for role in resources_of_type(template, "AWS::IAM::Role").values():
        assert "secretsmanager" not in json.dumps(role["Properties"].get("Policies", []))


def secret_grants(template, secret):
    """The IAM policies with a statement on the secret `secret` (a logical name)."""
    return [r for r in resources_of_type(template, "AWS::IAM::Policy").values()
            if any(s.get("Resource") == {"Ref": secret} for s in r["Properties"]["PolicyDocument"]["Statement"])]


# What each partner's secret holds: the keys chalicelib/bootstrap.py hands JsonSecret as required.
BANK_SECRET_KEYS = {"client_id", "client_secret", "developer_application_key", "webhook_token"}
PARTNER_CENTER_SECRET_KEYS = {"tenant_id", "app_id", "app_secret", "refresh_token"}


def _service_calls(tree, node, local_functions, seen=()):
    """The service functions (module, name) a function of chalicelib/api or chalicelib/jobs calls,
    itself or through the functions of its own module it calls. Its services are imported at the top
    of the module or, deferred (issue #22 §3), inside the functions that use them: both are read."""
    modules, names = {}, {}
    for statement in ast.walk(tree):
        if isinstance(statement, ast.ImportFrom) and statement.level == 2 and statement.module == "services":
            modules.update({a.asname or a.name: a.name for a in statement.names})
        elif (isinstance(statement, ast.ImportFrom) and statement.level == 2
              and (statement.module or "").startswith("services.")):
            names.update({a.asname or a.name: (statement.module.split(".", 1)[1], a.name) for a in statement.names})
    found = set()
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
            found.add((modules[func.value.id], func.attr))
        elif isinstance(func, ast.Name) and func.id in names:
            found.add(names[func.id])
        elif isinstance(func, ast.Name) and func.id in local_functions and func.id not in seen:
            found |= _service_calls(tree, local_functions[func.id], local_functions, seen + (func.id,))
    return found


def functions_reaching(template, field):
    """The template's functions whose code reaches the container's `field` (`bank`,
    `licence_provider`): a job's handler through the service functions it calls, the API through
    every route's (read with tests/unit/test_service_dependencies.py's reading of the services)."""
    from tests.unit.test_service_dependencies import SOURCE

    def reaches(calls):
        return any(key in SOURCE.functions and field in SOURCE.uses(key) for key in calls)

    root = os.path.join(PROJECT_DIR, "chalicelib")
    reaching = set()
    for name, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        handler = resource["Properties"]["Handler"]
        if handler == "app.app":
            paths = [os.path.join(root, "api", f) for f in sorted(os.listdir(os.path.join(root, "api")))
                     if f.endswith(".py")]
            function = None
        else:
            module, function = handler.rsplit(".", 1)
            paths = [os.path.join(PROJECT_DIR, *module.split(".")) + ".py"]
        calls = set()
        for path in paths:
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            local = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
            for node in ([local[function]] if function else local.values()):
                calls |= _service_calls(tree, node, local)
        if reaches(calls):
            reaching.add(name)
    return reaching


def test_the_partners_secrets_are_placeholders_only_the_functions_calling_them_may_read(package):
    _, template = package
    settings = from_environ({})
    secrets = resources_of_type(template, "AWS::SecretsManager::Secret")
    bank, partner_center = secrets["BankCredentialsSecret"], secrets["PartnerCenterCredentialsSecret"]
    for secret in (bank, partner_center):
        assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"  # the reseller's credentials
        assert "put-secret-value" in secret["Properties"]["Description"]
    assert bank["Properties"]["Name"] == settings.bank_api.credentials_secret
    assert partner_center["Properties"]["Name"] == settings.partner_center.credentials_secret
    # The bank's placeholder comes with the webhook's token already made, at random, by CloudFormation:
    # nobody picks it, and it is letters and digits only, as it travels in the webhook's URL path.
    generated = bank["Properties"]["GenerateSecretString"]
    assert "SecretString" not in bank["Properties"]
    assert generated["GenerateStringKey"] == "webhook_token" and generated["ExcludePunctuation"] is True
    assert generated["PasswordLength"] >= 32
    assert set(json.loads(generated["SecretStringTemplate"])) | {"webhook_token"} == BANK_SECRET_KEYS
    assert not any(json.loads(generated["SecretStringTemplate"]).values())
    assert json.loads(partner_center["Properties"]["SecretString"]) == dict.fromkeys(PARTNER_CENTER_SECRET_KEYS, "")

    # Every function is told which partner to call and where its credentials are; the simulators
    # stay the default, and the parameters take no value the settings refuse.
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["BANK_PROVIDER"] == {"Ref": "BankProvider"}
    assert variables["LICENCE_PROVIDER"] == {"Ref": "LicenceProvider"}
    assert variables["BANK_CREDENTIALS_SECRET"] == {"Ref": "BankCredentialsSecret"}
    assert variables["PARTNER_CENTER_CREDENTIALS_SECRET"] == {"Ref": "PartnerCenterCredentialsSecret"}
    for parameter in ("BankProvider", "LicenceProvider"):
        assert template["Parameters"][parameter]["Default"] == "simulated"
        assert tuple(template["Parameters"][parameter]["AllowedValues"]) == PROVIDERS

    # Who may read them: this secret's ARN only (never "*"), for the roles of the functions whose
    # code calls the partner — and Partner Center's may be written back (its refresh token rotates).
    # A function that starts calling a partner fails here until its role is added in infra/.
    functions = resources_of_type(template, "AWS::Serverless::Function")
    role_of = {f: props["Properties"]["Role"]["Fn::GetAtt"][0] for f, props in functions.items()}
    calling_the_bank = functions_reaching(template, "bank")
    calling_partner_center = functions_reaching(template, "licence_provider")
    # The reading of the code finds what is known to call them (second copy, cancellation and
    # re-emission in the API, the billing worker; the payments' reactivation in the API, the
    # provisioning worker, the suspension job), so it cannot pass by finding nothing.
    assert {"APIHandler", "BillContracts"} <= calling_the_bank
    assert {"APIHandler", "ProvisionChanges", "SuspendOverdueSubscriptions"} <= calling_partner_center
    assert not {"DeliverEmails", "AnonymiseAfterRetention"} & (calling_the_bank | calling_partner_center)
    for secret, actions, callers in (
            ("BankCredentialsSecret", "secretsmanager:GetSecretValue", calling_the_bank),
            ("PartnerCenterCredentialsSecret", ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
             calling_partner_center)):
        [policy] = secret_grants(template, secret)
        assert policy["Properties"]["PolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Action": actions, "Resource": {"Ref": secret}}]
        assert {r["Ref"] for r in policy["Properties"]["Roles"]} == {role_of[f] for f in callers}


def test_every_grant_on_secrets_manager_names_one_of_the_stack_s_secrets(package):
    _, template = package
    secrets = set(resources_of_type(template, "AWS::SecretsManager::Secret"))
    assert {"NfseCertificateSecret", "BankCredentialsSecret", "PartnerCenterCredentialsSecret"} <= secrets
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "secretsmanager" in json.dumps(statement["Action"]):
                assert statement["Resource"] in [{"Ref": s} for s in secrets]


# --- operations: alarms, logs, mail events, throttling, traces, the dashboard --------------------

# The alarms README "Operating" explains, besides one errors and one throttles alarm per function.
OPERATIONAL_ALARMS = {"dlq-email", "dlq-provisioning", "dlq-billing", "billing-run-unfinished", "email-failure-rate", "api-5xx",
                      "ses-bounce-rate", "ses-complaint-rate", "provisioning-failures"}
# What CloudWatch Logs accepts as a retention (days).
LOG_RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653}


def alarms_by_name(template):
    """Every alarm's properties by its name after the stack's prefix (`${AWS::StackName}-<name>`)."""
    found = {}
    for logical, resource in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        name = resource["Properties"]["AlarmName"]["Fn::Sub"]
        assert name.startswith("${AWS::StackName}-"), logical
        found[name.removeprefix("${AWS::StackName}-")] = resource["Properties"]
    assert len(found) == len(resources_of_type(template, "AWS::CloudWatch::Alarm"))  # names are unique
    return found


def metrics_read(alarm):
    """(namespace, metric name, dimensions) of each metric an alarm reads, alone or in its math."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", []))]
    return [(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
             m["MetricStat"]["Metric"].get("Dimensions", [])) for m in alarm["Metrics"] if "MetricStat" in m]


def test_every_alarm_tells_the_operators_when_it_fires_and_when_it_clears(package):
    _, template = package
    alarms = alarms_by_name(template)
    assert OPERATIONAL_ALARMS <= set(alarms)
    topic = template["Resources"]["OperatorAlarmsTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["TopicName"] == {"Fn::Sub": "${AWS::StackName}-operator-alarms"}
    for name, alarm in alarms.items():
        assert alarm["ActionsEnabled"] is True, name
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "OperatorAlarmsTopic"}], name
        # One line in Portuguese saying what it means (CloudWatch takes up to 1024 characters).
        description = alarm["AlarmDescription"]
        assert 20 < len(description) <= 1024 and "\n" not in description, name
        # No data is no trouble (no email sent, no message dead-lettered), except for the morning
        # watch, which counts 0 when all is well: without its value, the watch itself stopped.
        assert alarm["TreatMissingData"] == ("breaching" if name == "billing-run-unfinished" else "notBreaching"), name
    # The operators' address, when given, is subscribed to the topic (SNS asks it to confirm).
    [subscription] = resources_of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {"TopicArn": {"Ref": "OperatorAlarmsTopic"}, "Protocol": "email",
                                          "Endpoint": {"Ref": "AlarmEmail"}}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert template["Outputs"]["OperatorAlarmsTopicArn"]["Value"] == {"Ref": "OperatorAlarmsTopic"}


def test_each_function_has_its_errors_and_throttles_alarms_and_a_log_group_kept_for_the_retention(package):
    """Read from the generated template: a new handler (a new function) fails here until infra/
    gives it its alarms and its log group."""
    _, template = package
    functions = set(resources_of_type(template, "AWS::Serverless::Function"))
    assert {"APIHandler", "DeliverEmails", "BillContracts", "StartBillingRun", "WatchBillingRuns"} <= functions
    alarms = alarms_by_name(template)
    for function in functions:
        for kind, metric in (("errors", "Errors"), ("throttles", "Throttles")):
            assert f"{function}-{kind}" in alarms, f"{function} has no {kind} alarm: add it to infra/resources.json"
            alarm = alarms[f"{function}-{kind}"]
            assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", metric, "Sum")
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
            assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
            assert alarm["Period"] * alarm["EvaluationPeriods"] == 300
    # And none is left watching a function that is gone.
    watched = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms.values() if a.get("Namespace") == "AWS/Lambda"}
    assert watched == functions

    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    assert {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups.values()} == {
        f"/aws/lambda/${{{function}}}" for function in functions}
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        # Operational logs, not records (the audit trail is in the table): they go with the stack.
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Delete"
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 90 and set(retention["AllowedValues"]) == LOG_RETENTION_DAYS


def test_the_alarms_fire_at_the_thresholds_the_operators_are_told(package):
    _, template = package
    alarms = alarms_by_name(template)
    queues = {r["Properties"]["QueueName"]: name for name, r in resources_of_type(template, "AWS::SQS::Queue").items()}
    for queue in ("email", "provisioning", "billing"):
        alarm = alarms[f"dlq-{queue}"]
        # Any visible message in the queue's dead-letter queue.
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
        assert alarm["Dimensions"] == [{"Name": "QueueName",
                                        "Value": {"Fn::GetAtt": [queues[f"csp-portal-{queue}-dlq"], "QueueName"]}}]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")

    unfinished = alarms["billing-run-unfinished"]
    assert (unfinished["MetricName"], unfinished["Statistic"], unfinished["Period"], unfinished["Threshold"],
            unfinished["ComparisonOperator"]) == (Metric.BILLING_RUNS_UNFINISHED, "Maximum", 86400, 1,
                                                  "GreaterThanOrEqualToThreshold")

    # Failed over failed and sent in the hour, above 5 %, once at least 20 emails went out.
    rate = alarms["email-failure-rate"]
    by_id = {m["Id"]: m for m in rate["Metrics"]}
    assert by_id["failed"]["MetricStat"]["Metric"]["MetricName"] == Metric.EMAILS_FAILED
    assert by_id["sent"]["MetricStat"]["Metric"]["MetricName"] == Metric.EMAILS_SENT
    assert {m["MetricStat"]["Period"] for m in (by_id["failed"], by_id["sent"])} == {3600}
    assert {m["MetricStat"]["Stat"] for m in (by_id["failed"], by_id["sent"])} == {"Sum"}
    assert [m["Id"] for m in rate["Metrics"] if m["ReturnData"]] == ["rate"]
    assert by_id["rate"]["Expression"] == (
        "IF(FILL(failed, 0) + FILL(sent, 0) >= 20, FILL(failed, 0) / (FILL(failed, 0) + FILL(sent, 0)), 0)")
    assert (rate["Threshold"], rate["ComparisonOperator"]) == (0.05, "GreaterThanThreshold")

    # SES reviews an account at a 5 % bounce rate (pauses it at 10 %), at 0.1 % complaints: warned before.
    for name, metric, threshold in (("ses-bounce-rate", "Reputation.BounceRate", 0.04),
                                    ("ses-complaint-rate", "Reputation.ComplaintRate", 0.0008)):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "AWS/SES", metric, threshold, "GreaterThanOrEqualToThreshold")
    failures = alarms["provisioning-failures"]
    assert (failures["MetricName"], failures["Statistic"], failures["Period"], failures["Threshold"]) == (
        Metric.PROVISIONING_FAILURES, "Sum", 900, 1)


def dashboard_body(template):
    """The dashboard's JSON, its `${…}` substitutions (resources of the stack, its region) filled."""
    [dashboard] = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    for reference in re.findall(r"\$\{([^}]+)\}", text):
        assert reference == "AWS::Region" or reference.split(".")[0] in template["Resources"], reference
    return dashboard, json.loads(re.sub(r"\$\{[^}]+\}", "filled", text))


def test_every_product_metric_an_alarm_or_the_dashboard_reads_is_one_the_code_emits(package):
    """A metric named in infra/ but never emitted (a typo, a rename) would leave its alarm silent."""
    _, template = package
    emitted = {value for name, value in vars(Metric).items() if not name.startswith("_")}
    read = [metric for alarm in alarms_by_name(template).values() for metric in metrics_read(alarm)]
    _, body = dashboard_body(template)
    for widget in body["widgets"]:
        for line in widget["properties"]["metrics"]:
            names = [part for part in line if isinstance(part, str)]
            read.append((names[0], names[1], [{"Name": k, "Value": v} for k, v in zip(names[2::2], names[3::2])]))
    assert read
    for namespace, metric, dimensions in read:
        if namespace == NAMESPACE:
            assert metric in emitted, metric
            # Powertools publishes each with the one dimension service: an alarm must name it to match.
            assert dimensions == [{"Name": "service", "Value": SERVICE}], metric
        else:
            assert namespace in ("AWS/Lambda", "AWS/SQS", "AWS/SES", "AWS/ApiGateway"), namespace


def test_the_dashboard_shows_a_month_of_billing(package):
    _, template = package
    dashboard, body = dashboard_body(template)
    assert dashboard["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-billing"}
    assert template["Outputs"]["DashboardName"]["Value"] == {"Ref": next(iter(resources_of_type(
        template, "AWS::CloudWatch::Dashboard")))}
    assert body["start"] == "-P31D"
    shown = {(line[0], line[1]) for widget in body["widgets"] for line in widget["properties"]["metrics"]}
    assert {(NAMESPACE, m) for m in (Metric.INVOICES_ISSUED, Metric.EMAILS_SENT, Metric.EMAILS_FAILED,
                                     Metric.EMAILS_SUPPRESSED, Metric.EMAIL_BOUNCES, Metric.EMAIL_COMPLAINTS,
                                     Metric.PROVISIONING_FAILURES)} <= shown
    assert {("AWS/SQS", "ApproximateNumberOfMessagesVisible"), ("AWS/Lambda", "Errors"),
            ("AWS/Lambda", "Duration")} <= shown
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # The billing worker's and the billing dead-letter queue's, not another's.
    assert "${BillContracts}" in text and "${BillingDeadLetterQueue.QueueName}" in text


def test_ses_publishes_bounces_complaints_deliveries_and_rejects_to_the_topic_the_handler_reads(package):
    _, template = package
    settings = from_environ({})
    resources = template["Resources"]
    topic = resources["MailEventsTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["TopicName"] == settings.mail_events_topic == "csp-portal-mail-events"
    [configuration_set] = resources_of_type(template, "AWS::SES::ConfigurationSet").values()
    assert configuration_set["Properties"]["Name"] == "csp-portal"
    # The account's Reputation.* metrics the ses-* alarms read.
    assert configuration_set["Properties"]["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    [destination] = resources_of_type(template, "AWS::SES::ConfigurationSetEventDestination").values()
    assert destination["Properties"]["ConfigurationSetName"] == {"Ref": "MailConfigurationSet"}
    event_destination = destination["Properties"]["EventDestination"]
    assert event_destination["Enabled"] is True
    assert sorted(event_destination["MatchingEventTypes"]) == ["bounce", "complaint", "delivery", "reject"]
    assert event_destination["SnsDestination"] == {"TopicARN": {"Ref": "MailEventsTopic"}}
    assert destination["DependsOn"] == "MailEventsTopicPolicy"  # SES checks it may publish, on creation

    # SES may publish there, for this account's configuration set only; nobody else is let in.
    [policy] = resources_of_type(template, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "MailEventsTopic"}]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"], statement["Resource"]) == (
        "Allow", {"Service": "ses.amazonaws.com"}, "sns:Publish", {"Ref": "MailEventsTopic"})
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":configuration-set/csp-portal")

    # Every function sends with the set and knows the topic; the sender's identity uses the set too.
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MAIL_CONFIGURATION_SET"] == {"Ref": "MailConfigurationSet"}
    assert variables["MAIL_EVENTS_TOPIC"] == {"Fn::GetAtt": ["MailEventsTopic", "TopicName"]}
    assert resources["SenderIdentity"]["Properties"]["ConfigurationSetAttributes"] == {
        "ConfigurationSetName": {"Ref": "MailConfigurationSet"}}
    assert template["Outputs"]["MailEventsTopicArn"]["Value"] == {"Ref": "MailEventsTopic"}


def resolve(value, parameters):
    """The few intrinsic functions the sender's identity is computed with."""
    if isinstance(value, dict):
        [(function, argument)] = value.items()
        if function == "Ref":
            return parameters[argument]
        if function == "Fn::Split":
            return resolve(argument[1], parameters).split(argument[0])
        if function == "Fn::Select":
            return resolve(argument[1], parameters)[argument[0]]
        raise AssertionError(function)
    return value


def test_the_sender_is_a_parameter_and_its_domain_is_the_ses_identity(package):
    _, template = package
    parameter = template["Parameters"]["MailSender"]
    assert parameter["Default"] == from_environ({}).mail_sender
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MAIL_SENDER"] == {"Ref": "MailSender"}
    identity = template["Resources"]["SenderIdentity"]["Properties"]["EmailIdentity"]
    for sender, domain in ((parameter["Default"], "brasoftware.com.br"),
                           ("cobranca@revenda.example", "revenda.example"),
                           ("Financeiro <fin@mail.revenda.example>", "mail.revenda.example")):
        assert re.fullmatch(parameter["AllowedPattern"], sender)
        assert resolve(identity, {"MailSender": sender}) == domain
    for refused in ("", "Brasoftware", "Financeiro <fin>", "a@b@c.com"):
        assert not re.fullmatch(parameter["AllowedPattern"], refused), refused
    # A variable a function sets for itself (.chalice/config.json) silently wins over the stack's.
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        own = set(function["Properties"].get("Environment", {}).get("Variables", {}))
        assert not own & set(variables), (name, own & set(variables))


def test_the_api_stage_is_throttled_and_may_answer_on_a_custom_domain(package):
    _, template = package
    [api] = resources_of_type(template, "AWS::Serverless::Api").values()
    assert api["Properties"]["MethodSettings"] == [
        {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
         "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"}}]
    parameters = template["Parameters"]
    assert (parameters["ApiThrottleRateLimit"]["Default"], parameters["ApiThrottleBurstLimit"]["Default"]) == (50, 100)

    assert (parameters["DomainName"]["Default"], parameters["CertificateArn"]["Default"]) == ("", "")
    [domain] = resources_of_type(template, "AWS::ApiGateway::DomainName").values()
    [mapping] = resources_of_type(template, "AWS::ApiGateway::BasePathMapping").values()
    assert domain["Condition"] == mapping["Condition"] == "HasCustomDomain"
    assert domain["Properties"]["DomainName"] == {"Ref": "DomainName"}
    assert domain["Properties"]["CertificateArn"] == {"Ref": "CertificateArn"}
    assert mapping["Properties"]["RestApiId"] == {"Ref": "RestAPI"}
    assert mapping["Properties"]["Stage"] == {"Ref": "RestAPI.Stage"}
    # A domain without its certificate is refused before anything is created.
    [assertion] = template["Rules"]["CustomDomainNeedsCertificate"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}
    url = template["Outputs"]["ApiUrl"]["Value"]["Fn::If"]
    assert url[0] == "HasCustomDomain" and url[1] == {"Fn::Sub": "https://${DomainName}/"}


def test_every_function_is_traced_and_its_role_may_send_the_traces(package):
    _, template = package
    # The traces keep no exception text nor answer (the adapters' capture_method read these): both
    # may name a customer, and X-Ray is out of the logs' scrubbing.
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    [api] = resources_of_type(template, "AWS::Serverless::Api").values()
    assert api["Properties"]["TracingEnabled"] is True
    roles = template["Resources"]
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        assert function["Properties"]["Tracing"] == "Active", name
        role = roles[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        actions = {action for policy in role["Properties"]["Policies"]
                   for statement in policy["PolicyDocument"]["Statement"]
                   for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}
        assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= actions, name
        # EMF metrics travel in the logs: no function may write CloudWatch metrics or publish to SNS.
        assert not {a for a in actions if a.startswith(("cloudwatch:", "sns:"))}, name


def test_the_template_passes_cfn_lint(package):
    out, _ = package
    result = subprocess.run([os.path.join(BIN, "cfn-lint"), str(out / "sam.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# What the Lambda Python runtime provides next to the zip (boto3 and its dependency tree).
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


# A DPS as the national layout (v1.01) shapes it, for the reseller's defaults (São Paulo, 01.05.01).
DPS_ID = "DPS355030824599741800015300001000000000000042"
DPS = (
    '<DPS xmlns="http://www.sped.fazenda.gov.br/nfse" versao="1.01">'
    f'<infDPS Id="{DPS_ID}">'
    "<tpAmb>2</tpAmb><dhEmi>2026-11-11T09:00:00-03:00</dhEmi><verAplic>csp-portal</verAplic>"
    "<serie>1</serie><nDPS>42</nDPS><dCompet>2026-11-11</dCompet><tpEmit>1</tpEmit><cLocEmi>3550308</cLocEmi>"
    "<prest><CNPJ>45997418000153</CNPJ><IM>12345678</IM>"
    "<regTrib><opSimpNac>1</opSimpNac><regEspTrib>0</regEspTrib></regTrib></prest>"
    "<toma><CNPJ>11222333000181</CNPJ><xNome>Açaí &amp; Cia Ltda</xNome></toma>"
    "<serv><locPrest><cLocPrestacao>3550308</cLocPrestacao></locPrest>"
    "<cServ><cTribNac>010501</cTribNac><xDescServ>Licenciamento de uso de programas de computação</xDescServ>"
    "</cServ></serv>"
    "<valores><vServPrest><vServ>1234.56</vServ></vServPrest>"
    "<trib><tribMun><tribISSQN>1</tribISSQN><tpRetISSQN>1</tpRetISSQN><pAliq>2.90</pAliq></tribMun>"
    "<totTrib><indTotTrib>0</indTotTrib></totTrib></trib></valores>"
    "</infDPS></DPS>")


# Observability from the slimmed zip, through the product's own middleware (a Chalice app of one
# route, instrumented as app.py is): a JSON log line with the correlation id and Lambda's context,
# an EMF metric flushed, a method traced.
OBSERVABILITY_PROBE = """
import logging
from chalice import Chalice
from chalicelib import observability
probe = Chalice(app_name='probe')
observability.instrument(probe)

@observability.tracer.capture_method(capture_response=False)
def traced_call():
    return 1

@probe.route('/probe')
def answer():
    traced_call()
    logging.getLogger('csp_portal.probe').info('probe answered')
    observability.count(observability.Metric.EMAILS_SENT)
    return {}

class Context:
    function_name, memory_limit_in_mb, aws_request_id = 'probe', 512, 'request-1'
    invoked_function_arn = 'arn:aws:lambda:sa-east-1:123456789012:function:probe'

answered = probe({'resource': '/probe', 'path': '/probe', 'httpMethod': 'GET', 'headers': {'X-Correlation-Id': 'probe-1'},
                  'multiValueHeaders': {}, 'multiValueQueryStringParameters': None, 'pathParameters': None, 'stageVariables': None,
                  'body': None, 'isBase64Encoded': False,
                  'requestContext': {'resourcePath': '/probe', 'httpMethod': 'GET', 'requestId': 'gateway-1'}}, Context())
print(json.dumps({'status': answered['statusCode'], 'correlation_id': answered['headers']['X-Correlation-Id']}))
"""


def lambda_task(package, tmp_path):
    """The shipped zip extracted as Lambda's /var/task, and the runtime's own packages beside it:
    (task, runtime) folders for PYTHONPATH."""
    from infra.slim_package import slim

    shipped = tmp_path / "deployment.zip"
    shutil.copy2(package[0] / "deployment.zip", shipped)
    slim(str(shipped))
    task, runtime = tmp_path / "task", tmp_path / "runtime"
    with zipfile.ZipFile(shipped) as archive:
        archive.extractall(task)  # the files' times are the extraction's, as on Lambda
    runtime.mkdir()
    venv_site = next(p for p in sys.path if p.endswith("site-packages") and os.path.isdir(os.path.join(p, "botocore")))
    for name in LAMBDA_RUNTIME_PACKAGES:
        os.symlink(os.path.join(venv_site, name), runtime / name)
    return task, runtime


# Counts the modules compiled from source (no usable bytecode) while the functions' code loads.
COMPILED_FROM_SOURCE = """
import importlib._bootstrap_external as external, json, sys
compiled = []
real = external.SourceLoader.source_to_code
def counted(self, data, path, *args, **kwargs):
    compiled.append(path)
    return real(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = counted
import app
from chalicelib.services import billing, documents
from chalicelib.rendering import pdf, danfse
from chalicelib.fiscal import dps, schemas, signing
import jinja2, jwt, reportlab.pdfgen.canvas
print(json.dumps({"compiled": compiled, "loaded": len(sys.modules)}))
"""


def test_the_zip_carries_each_module_s_bytecode_so_a_cold_start_compiles_nothing(package, tmp_path):
    """Lambda's /var/task is read-only: without bytecode in the zip, every cold start compiles each
    module it imports, ours and the libraries'. The pycs are checked against their source by hash,
    not by time: the extraction's times do not make them stale."""
    task, runtime = lambda_task(package, tmp_path)
    assert (task / "chalicelib" / "__pycache__" / "bootstrap.cpython-311.pyc").is_file()
    assert (task / "__pycache__" / "app.cpython-311.pyc").is_file()
    env = {"PYTHONPATH": f"{task}{os.pathsep}{runtime}", "AWS_DEFAULT_REGION": "sa-east-1", "PATH": os.environ["PATH"],
           "PYTHONDONTWRITEBYTECODE": "1", "LAMBDA_TASK_ROOT": str(task)}
    result = subprocess.run([sys.executable, "-S", "-c", COMPILED_FROM_SOURCE], cwd=task, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    shipped = json.loads(result.stdout.strip().splitlines()[-1])
    assert shipped["loaded"] > 300  # the functions' code did load
    assert [path for path in shipped["compiled"] if path.startswith(str(task))] == []

    # A module whose source differs from what its bytecode was compiled from is compiled again.
    edited = task / "chalicelib" / "domain" / "money.py"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-S", "-c", COMPILED_FROM_SOURCE], cwd=task, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [p for p in json.loads(result.stdout.strip().splitlines()[-1])["compiled"]
            if p.startswith(str(task))] == [str(edited)]


def test_the_slimmed_zip_runs_on_the_lambda_runtime_alone(package, tmp_path):
    """The shipped zip plus the runtime's own packages, nothing from this machine's virtualenv:
    the app imports, Brazilian bank holidays come out as the full library computes them, a
    boleto PDF renders (reportlab and its image library came along), and a signed DPS validates
    against the national XSD, its signature verifies and nfelib's bindings read and write it (lxml's
    compiled modules, xsdata and nfelib's NFS-e part came along, slimmed)."""
    from chalicelib.domain.billing import bank_holidays
    from chalicelib.fiscal import schemas, signing
    from local.demo_certificate import demo_a1

    signed = signing.sign(DPS, DPS_ID, signing.A1Certificate.from_pkcs12(*demo_a1("45997418000153")))
    assert schemas.validate(signed, "DPS") == []  # in this virtualenv first: the document is right
    (tmp_path / "dps.xml").write_text(signed, encoding="utf-8")
    (tmp_path / "bad.xml").write_text(signed.replace("<pAliq>2.90</pAliq>", "<pAliq>0.029</pAliq>"), encoding="utf-8")

    task, runtime = lambda_task(package, tmp_path)
    script = (
        "import json, app\n"
        "from chalicelib.domain.billing import bank_holidays\n"
        "from chalicelib.rendering.pdf import invoice_pdf\n"
        "pdf = invoice_pdf({'number': 1, 'issuer': {'name': 'A', 'document': '1'}, 'customer': {'name': 'B',"
        " 'document': '2'}, 'period_start': '2026-10-11', 'period_end': '2026-11-10', 'issued_on': '2026-11-11',"
        " 'due_date': '2026-11-21', 'payment_method': 'boleto', 'total_cents': 100, 'lines': []})\n"
        f"signed = open({str(tmp_path / 'dps.xml')!r}, encoding='utf-8').read()\n"
        f"bad = open({str(tmp_path / 'bad.xml')!r}, encoding='utf-8').read()\n"
        f"task = {str(task)!r}\n"
        "from chalicelib.fiscal import schemas, signing\n"
        "from nfelib.nfse.bindings.v1_0 import Dps\n"
        "import msal, requests  # Partner Center's client, on the runtime's urllib3\n"
        "from xsdata.formats.dataclass.parsers import XmlParser\n"
        "from xsdata.formats.dataclass.serializers import XmlSerializer\n"
        "dps = XmlParser().from_string(signed, Dps)\n"
        "print(json.dumps({'pdf': pdf[:5].decode(), 'holidays': sorted(d.isoformat() for d in"
        " bank_holidays(2027, 'SP', ('01-25', '11-20'))),"
        " 'valid': schemas.validate(signed, 'DPS'), 'bad': len(schemas.validate(bad, 'DPS')),"
        " 'signed_by': signing.verify(signed).reference_id,"
        " 'rewritten': schemas.validate(XmlSerializer().render(dps), 'DPS'), 'vServ': str(dps.infDPS.valores.vServPrest.vServ),"
        " 'from': [__import__(m).__file__.startswith(task) for m in ('lxml', 'nfelib', 'xsdata')]}))\n")
    # The IBGE table is read from the package itself (importlib.resources), as on Lambda.
    script += "from chalicelib.domain.addresses import municipality\nassert municipality('3550308') == ('São Paulo', 'SP')\n"
    script += OBSERVABILITY_PROBE
    # As in Lambda (LAMBDA_TASK_ROOT and a trace header): Powertools' tracer is on and patches the
    # libraries; its segments go by UDP to the "daemon", a socket of this test.
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(5)
    env = {"PYTHONPATH": f"{task}{os.pathsep}{runtime}", "AWS_DEFAULT_REGION": "sa-east-1", "PATH": os.environ["PATH"],
           "PYTHONDONTWRITEBYTECODE": "1", "LAMBDA_TASK_ROOT": str(task), "AWS_LAMBDA_FUNCTION_NAME": "probe",
           "_X_AMZN_TRACE_ID": "Root=1-6747b6c0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
           "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}"}
    result = subprocess.run([sys.executable, "-S", "-c", script], cwd=task, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    segments = []
    try:
        while True:
            segments.append(daemon.recv(65536).decode())
    except socket.timeout:
        daemon.close()
    lines = [json.loads(line) for line in result.stdout.strip().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("name") == "csp_portal.probe"]
    assert [(l["level"], l["message"], l["correlation_id"], l["function_name"], l["cold_start"]) for l in logged] == [
        ("INFO", "probe answered", "probe-1", "probe", True)]
    [emf] = [line for line in lines if "_aws" in line]
    assert emf["EmailsSent"] == [1.0] and emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CspPortal"
    # The invocation's subsegment (named for the function, its cold start annotated) and the method's.
    assert any('"## probe"' in segment and '"ColdStart": true' in segment for segment in segments), segments
    assert any('"## __main__.traced_call"' in segment for segment in segments), segments
    assert {"status": 200, "correlation_id": "probe-1"} in lines
    [shipped_run] = [line for line in lines if "pdf" in line]
    assert shipped_run["pdf"] == "%PDF-"
    assert shipped_run["holidays"] == sorted(d.isoformat() for d in bank_holidays(2027, "SP", ("01-25", "11-20")))
    assert shipped_run["valid"] == [] and shipped_run["bad"] == 1
    assert shipped_run["signed_by"] == DPS_ID
    assert shipped_run["rewritten"] == [] and shipped_run["vServ"] == "1234.56"
    assert shipped_run["from"] == [True, True, True]


def test_api_gateway_passes_a_bank_return_file_through_as_bytes(package):
    # A CNAB file is Latin-1 text/plain: unless it is a binary media type, API Gateway decodes it as
    # UTF-8 and every accented payer name turns into a line of the wrong length.
    _, template = package
    [api] = resources_of_type(template, "AWS::Serverless::Api").values()
    media = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-binary-media-types"]
    assert {"text/plain", "application/octet-stream"} <= set(media)


# --- what the roles may do: derived from the code that calls AWS ------------------------------

# PynamoDB's calls (on a model, an item, a connection or a transaction) and the IAM action each
# needs. TransactWriteItems has no action of its own: IAM checks each item's Put/Update/Delete/
# ConditionCheck; TransactGetItems checks GetItem. Dictionaries' get/update and conditions'
# exists() land here too: harmless, those actions are granted anyway.
PYNAMODB_ACTIONS = {
    "get": "GetItem", "refresh": "GetItem", "get_item": "GetItem", "TransactGet": "GetItem",
    "transact_get_items": "GetItem",
    "query": "Query", "count": "Query", "scan": "Scan",
    "batch_get": "BatchGetItem", "batch_get_item": "BatchGetItem",
    "batch_write": "BatchWriteItem", "batch_write_item": "BatchWriteItem",
    "save": "PutItem", "put_item": "PutItem", "update": "UpdateItem", "update_item": "UpdateItem",
    "delete": "DeleteItem", "delete_item": "DeleteItem", "condition_check": "ConditionCheckItem",
    "exists": "DescribeTable", "describe_table": "DescribeTable",
}
# boto3's batch calls are authorised as their single form.
# Operations whose IAM action has another name: the batch ones, and S3's HeadObject (s3:GetObject).
BATCH_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                 "ChangeMessageVisibilityBatch": "ChangeMessageVisibility", "HeadObject": "GetObject"}
# The services the prod functions call through chalicelib/adapters/aws.py's client(): their calls
# are read from the modules that create that client. (sns: only the local SES simulator publishes;
# secretsmanager: its grants are per function, tested above.)
CLIENT_SERVICES = ("sqs", "s3", "sesv2", "cognito-idp")


def _python_files(folder):
    for directory, _, files in os.walk(os.path.join(PROJECT_DIR, "chalicelib", folder)):
        yield from (os.path.join(directory, f) for f in sorted(files) if f.endswith(".py"))


def dynamodb_actions_the_storage_calls():
    actions = set()
    for path in _python_files("storage"):
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
            elif isinstance(node, ast.Name):  # TransactWrite/TransactGet used as a context manager
                name = node.id
            if name in PYNAMODB_ACTIONS:
                actions.add("dynamodb:" + PYNAMODB_ACTIONS[name])
    return actions


def client_actions_the_adapters_call():
    """(IAM action, file) for each boto3 call whose service the file creates a client of; the
    operations Cognito serves without IAM (a user's own token: InitiateAuth, ChangePassword…) left out."""
    import botocore.session

    session = botocore.session.get_session()
    found = set()
    for path in _python_files(""):
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        tree = ast.parse(source)
        services = [s for s in CLIENT_SERVICES if f'client("{s}"' in source]
        called = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):  # called, or picked (`admin_enable_user if … else …`)
                called.add(node.attr)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                # A presigned link is the named operation, signed by the function's role.
                if node.func.attr == "generate_presigned_url" and node.args and isinstance(node.args[0], ast.Constant):
                    called.add(node.args[0].value)
                called |= {k.value.value for k in node.keywords
                           if k.arg == "ClientMethod" and isinstance(k.value, ast.Constant)}
        for service in services:
            model = session.get_service_model(service)
            by_method = {botocore.xform_name(op): op for op in model.operation_names}
            for method in called & set(by_method):
                operation = model.operation_model(by_method[method])
                if operation.auth_type == "none":
                    continue
                found.add((f"{model.signing_name}:{BATCH_ACTIONS.get(operation.name, operation.name)}",
                           os.path.relpath(path, PROJECT_DIR)))
    return found


def role_actions(role):
    return {action for policy in role["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"] if statement["Effect"] == "Allow"
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}


def allowed(action, granted):
    import fnmatch

    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in granted)


def test_every_role_may_make_the_dynamodb_calls_the_storage_layer_makes(package):
    """moto checks no IAM: a call the prod policy (.chalice/policy-prod.json) lacks would only fail
    in AWS, as AccessDenied on every email (suppressions' batch_get) or every login."""
    _, template = package
    needed = dynamodb_actions_the_storage_calls()
    # What the storage layer is known to call; the derivation must find at least these.
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem",
            "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"} <= needed
    roles = resources_of_type(template, "AWS::IAM::Role")
    assert set(roles) >= {"ApiHandlerRole", "DeliverEmailsRole", "BillContractsRole", "HandleMailEventRole"}
    for name, role in roles.items():
        missing = sorted(action for action in needed if not allowed(action, role_actions(role)))
        assert not missing, f"{name} may not call {missing}: add them to .chalice/policy-prod.json"


def test_every_role_may_make_the_sqs_s3_ses_and_cognito_calls_the_adapters_make(package):
    _, template = package
    needed = client_actions_the_adapters_call()
    assert {action for action, _ in needed} >= {"sqs:SendMessage", "s3:PutObject", "s3:GetObject", "ses:SendEmail",
                                                 "cognito-idp:AdminCreateUser"}
    assert not any(action == "cognito-idp:InitiateAuth" for action, _ in needed)  # served without IAM
    for name, role in resources_of_type(template, "AWS::IAM::Role").items():
        missing = sorted(f"{action} ({path})" for action, path in needed if not allowed(action, role_actions(role)))
        assert not missing, f"{name} may not call {missing}: add them to .chalice/policy-prod.json"


def test_an_api_5xx_reaches_the_operators(package):
    """http.py answers an unexpected exception with a 500 without failing the Lambda, so the
    APIHandler errors alarm never sees it: API Gateway's own 5XXError count does."""
    _, template = package
    alarm = alarms_by_name(template)["api-5xx"]
    [(logical, api)] = resources_of_type(template, "AWS::Serverless::Api").items()
    # The RestApi's name: its Name, else the title of the definition chalice writes.
    api_name = api["Properties"].get("Name") or api["Properties"]["DefinitionBody"]["info"]["title"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/ApiGateway", "5XXError", "Sum")
    assert alarm["Dimensions"] == [{"Name": "ApiName", "Value": api_name},
                                   {"Name": "Stage", "Value": api["Properties"]["StageName"]}]
    assert api_name == "csp-portal" and api["Properties"]["StageName"] == "api"
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        300, 1, 1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "OperatorAlarmsTopic"}]


# Each event function of the template, imported as Lambda imports it (its module alone, in a fresh
# process), runs its handler through the app's middleware: without it a worker's metrics
# (InvoicesIssued, EmailsSent…) were never flushed in Lambda and its logs carried no correlation id.
PROBE = """
import importlib, json, sys
module_name, function = sys.argv[1].rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), function)
print(json.dumps([m.__name__ for m in handler.middleware_handlers]))
"""


def _middleware_of(handler: str) -> list:
    out = subprocess.run([sys.executable, "-c", PROBE, handler], cwd=PROJECT_DIR, capture_output=True, text=True,
                         check=True, env={**os.environ, "AWS_DEFAULT_REGION": "sa-east-1"}).stdout
    return json.loads(out)


def test_every_event_function_imported_alone_runs_through_the_apps_middleware(package):
    _, template = package
    handlers = sorted({resource["Properties"]["Handler"] for resource in template["Resources"].values()
                       if resource["Type"] == "AWS::Serverless::Function"} - {"app.app"})
    assert len(handlers) >= 5  # the workers and the schedules
    for handler in handlers:
        assert _middleware_of(handler) == ["_bind_for", "_with_lambda_context", "_traced", "_flush_metrics"], handler
