"""`chalice package` produces a deployable template: the functions, the table with its index,
the queues with their dead-letter queues, the bucket and the user pool; templates travel in the zip."""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from chalicelib.settings import from_environ
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
    env = {**os.environ, "AWS_DEFAULT_REGION": "sa-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
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
    assert {"templates/portal/index.html", "templates/portal/app.js", "templates/portal/app.css"} <= names
    assert {"templates/email/user_invited.html", "templates/email/user_invited.txt",
            "templates/email/_layout.html"} <= names
    # The IBGE municipalities the address rules read (domain/addresses.py), with their licence.
    assert {"chalicelib/domain/data/municipios.csv.gz", "chalicelib/domain/data/NOTICE"} <= names
    assert not any(name.startswith(("tests/", "local/", ".venv/")) for name in names)


def test_the_slimmed_zip_leaves_out_only_what_the_lambda_runtime_provides(package, tmp_path):
    from infra.slim_package import slim

    copy = tmp_path / "deployment.zip"
    shutil.copy2(package[0] / "deployment.zip", copy)
    before, after = slim(str(copy))
    with zipfile.ZipFile(copy) as archive:
        names = set(archive.namelist())
    tops = {name.split("/")[0] for name in names}
    assert not tops & {"botocore", "boto3", "s3transfer", "jmespath", "urllib3"}
    assert {"pynamodb", "jinja2", "jwt", "cryptography", "reportlab", "holidays", "chalicelib", "templates"} <= tops
    assert "app.py" in names and after < before


def test_the_template_passes_cfn_lint(package):
    out, _ = package
    result = subprocess.run([os.path.join(BIN, "cfn-lint"), str(out / "sam.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# What the Lambda Python runtime provides next to the zip (boto3 and its dependency tree).
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def test_the_slimmed_zip_runs_on_the_lambda_runtime_alone(package, tmp_path):
    """The shipped zip plus the runtime's own packages, nothing from this machine's virtualenv:
    the app imports, Brazilian bank holidays come out as the full library computes them, and a
    boleto PDF renders (reportlab and its image library came along)."""
    from chalicelib.domain.billing import bank_holidays
    from infra.slim_package import slim

    shipped = tmp_path / "deployment.zip"
    shutil.copy2(package[0] / "deployment.zip", shipped)
    slim(str(shipped))
    task, runtime = tmp_path / "task", tmp_path / "runtime"
    with zipfile.ZipFile(shipped) as archive:
        archive.extractall(task)
    runtime.mkdir()
    venv_site = next(p for p in sys.path if p.endswith("site-packages") and os.path.isdir(os.path.join(p, "botocore")))
    for name in LAMBDA_RUNTIME_PACKAGES:
        os.symlink(os.path.join(venv_site, name), runtime / name)
    script = (
        "import json, app\n"
        "from chalicelib.domain.billing import bank_holidays\n"
        "from chalicelib.rendering.pdf import invoice_pdf\n"
        "pdf = invoice_pdf({'number': 1, 'issuer': {'name': 'A', 'document': '1'}, 'customer': {'name': 'B',"
        " 'document': '2'}, 'period_start': '2026-10-11', 'period_end': '2026-11-10', 'issued_on': '2026-11-11',"
        " 'due_date': '2026-11-21', 'payment_method': 'boleto', 'total_cents': 100, 'lines': []})\n"
        "print(json.dumps({'pdf': pdf[:5].decode(), 'holidays': sorted(d.isoformat() for d in"
        " bank_holidays(2027, 'SP', ('01-25', '11-20')))}))\n")
    # The IBGE table is read from the package itself (importlib.resources), as on Lambda.
    script += "from chalicelib.domain.addresses import municipality\nassert municipality('3550308') == ('São Paulo', 'SP')\n"
    env = {"PYTHONPATH": f"{task}{os.pathsep}{runtime}", "AWS_DEFAULT_REGION": "sa-east-1", "PATH": os.environ["PATH"],
           "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-S", "-c", script], cwd=task, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    shipped_run = json.loads(result.stdout.strip().splitlines()[-1])
    assert shipped_run["pdf"] == "%PDF-"
    assert shipped_run["holidays"] == sorted(d.isoformat() for d in bank_holidays(2027, "SP", ("01-25", "11-20")))


def test_api_gateway_passes_a_bank_return_file_through_as_bytes(package):
    # A CNAB file is Latin-1 text/plain: unless it is a binary media type, API Gateway decodes it as
    # UTF-8 and every accented payer name turns into a line of the wrong length.
    _, template = package
    [api] = resources_of_type(template, "AWS::Serverless::Api").values()
    media = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-binary-media-types"]
    assert {"text/plain", "application/octet-stream"} <= set(media)
