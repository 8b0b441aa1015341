"""Attachments on support tickets: uploaded as the request's body, checked by the product (size,
type by content, the ticket's organisation and status), stored under the organisation in the
documents bucket, recorded and audited; downloaded through short-lived links handed out only to
whoever may see the ticket. Every refusal writes nothing: no object in the bucket, no item."""
from urllib.parse import quote

import boto3
import pytest
import requests

from chalicelib.domain.roles import Role
from chalicelib.domain.tickets import MAX_ATTACHMENT_BYTES

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
LOG = "2026-11-30 12:00:01 ERRO Outlook: falha de sincronização\n".encode("utf-8")


def _objects(world) -> list:
    s3 = boto3.client("s3", region_name=world.deps.settings.region)
    answer = s3.list_objects_v2(Bucket=world.deps.settings.documents_bucket, Prefix="tickets/")
    return [o["Key"] for o in answer.get("Contents", [])]


def _audit(world, org_id: str) -> list:
    entries, _ = world.deps.audit.list(org_id, since="2000-01-01T00:00:00+00:00", until="2100-01-01T00:00:00+00:00",
                                       limit=100, next_token=None)
    return [e for e in entries if e.action == "ticket.attachment_uploaded"]


def _upload(world, account, path: str, content: bytes, name="tela.png", content_type="application/octet-stream"):
    headers = {**account.headers, "Content-Type": content_type}
    target = f"{path}/attachments" + (f"?name={quote(name)}" if name is not None else "")
    return world.call("POST", target, account, content, headers=headers)


@pytest.fixture
def desk(world):
    org = world.organization()
    support_account = world.user(org.id, [Role.SUPORTE])
    ticket = world.call("POST", "/tickets", support_account, {
        "subject": "Outlook não sincroniza", "category": "tecnico", "severity": "alta",
        "description": "Segue a tela do erro."}).json_body
    return org, support_account, ticket


def test_a_customer_attaches_a_screenshot_and_both_sides_download_it_with_its_name(world, desk):
    org, support_account, ticket = desk
    name = 'Relatório "final"; tela ção.png'
    uploaded = _upload(world, support_account, f"/tickets/{ticket['id']}", PNG, name=name)
    assert uploaded.status_code == 201
    attachment = uploaded.json_body
    assert (attachment["name"], attachment["size"], attachment["content_type"], attachment["side"]) == \
        (name, len(PNG), "image/png", "customer")
    assert attachment["uploaded_by"] == support_account.user.id and attachment["message_id"] is None
    assert _objects(world) == [f"tickets/{org.id}/{ticket['id']}/{attachment['id']}"]
    [entry] = _audit(world, org.id)
    assert entry.after["name"] == name and entry.after["size"] == len(PNG) and entry.actor_id == support_account.user.id

    seen = world.call("GET", f"/tickets/{ticket['id']}", support_account).json_body
    assert [a["id"] for a in seen["attachments"]] == [attachment["id"]]
    operator = world.operator()
    assert world.call("GET", f"/backoffice/tickets/{ticket['id']}", operator).json_body["attachments"] == \
        seen["attachments"]

    for account, path in ((support_account, "/tickets"), (operator, "/backoffice/tickets")):
        link = world.call("GET", f"{path}/{ticket['id']}/attachments/{attachment['id']}", account)
        assert link.status_code == 200 and link.json_body["name"] == name
        download = requests.get(link.json_body["url"], timeout=10)
        assert download.status_code == 200 and download.content == PNG
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="Relatorio _final__ tela cao.png"')
        assert "filename*=UTF-8''Relat%C3%B3rio%20%22final%22%3B%20tela%20%C3%A7%C3%A3o.png" in disposition


def test_a_script_passing_as_text_downloads_as_text_under_a_name_without_bidi_marks(world, desk):
    org, support_account, ticket = desk
    script = b"@echo off\r\ndel /q C:\\Users\\*\r\n"
    uploaded = _upload(world, support_account, f"/tickets/{ticket['id']}", script, name="comprovante\u202efdp.bat")
    assert uploaded.status_code == 201
    attachment = uploaded.json_body
    assert (attachment["name"], attachment["content_type"]) == ("comprovantefdp.bat.txt", "text/plain")
    [entry] = _audit(world, org.id)
    assert entry.after["name"] == "comprovantefdp.bat.txt"
    link = world.call("GET", f"/tickets/{ticket['id']}/attachments/{attachment['id']}", support_account).json_body
    assert link["name"] == "comprovantefdp.bat.txt"
    download = requests.get(link["url"], timeout=10)
    assert download.content == script
    assert download.headers["Content-Disposition"] == \
        "attachment; filename=\"comprovantefdp.bat.txt\"; filename*=UTF-8''comprovantefdp.bat.txt"
    # A PNG named as a program keeps its name and gets its own extension.
    png = _upload(world, support_account, f"/tickets/{ticket['id']}", PNG, name="tela.exe").json_body
    assert png["name"] == "tela.exe.png"


def test_the_link_is_only_for_the_tickets_organisation(world, desk):
    org, support_account, ticket = desk
    attachment = _upload(world, support_account, f"/tickets/{ticket['id']}", PNG).json_body
    other = world.organization()
    stranger = world.user(other.id, [Role.SUPORTE])
    for account in (stranger, other.master):
        refused = world.call("GET", f"/tickets/{ticket['id']}/attachments/{attachment['id']}", account)
        assert refused.status_code == 404 and refused.json_body["error"]["code"] == "ticket_not_found"
        assert "url" not in refused.json_body
    # A customer without the support capability (Cobrança) does not reach the route.
    billing = world.user(org.id, [Role.COBRANCA])
    assert world.call("GET", f"/tickets/{ticket['id']}/attachments/{attachment['id']}", billing).status_code == 403
    # The customer's own route does not reach an operator's route.
    assert world.call("GET", f"/backoffice/tickets/{ticket['id']}/attachments/{attachment['id']}",
                      support_account).status_code == 403
    unknown = world.call("GET", f"/tickets/{ticket['id']}/attachments/nao-existe", support_account)
    assert unknown.status_code == 404 and unknown.json_body["error"]["code"] == "attachment_not_found"


def test_every_refusal_writes_nothing(world, desk):
    org, support_account, ticket = desk
    path = f"/tickets/{ticket['id']}"
    before = world.call("GET", path, support_account).json_body
    other = world.organization()
    stranger = world.user(other.id, [Role.SUPORTE])
    cases = [
        (_upload(world, support_account, path, b"\x00" * (MAX_ATTACHMENT_BYTES + 1)), 413, "attachment_too_large"),
        (_upload(world, support_account, path, b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, name="setup.png"),
         415, "attachment_type_not_allowed"),
        (_upload(world, support_account, path, b"\xff\xfe\x00binary\x00", name="notas.txt"), 415,
         "attachment_type_not_allowed"),
        (_upload(world, support_account, path, PNG, content_type="image/png"), 415, "unsupported_file_type"),
        (_upload(world, support_account, path, b""), 400, "attachment_empty"),
        (_upload(world, support_account, path, PNG, name=None), 400, "invalid_attachment_name"),
        (_upload(world, support_account, path, PNG, name="../.."), 400, "invalid_attachment_name"),
        (_upload(world, stranger, path, PNG), 404, "ticket_not_found"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json_body["error"]["code"]) == (status, code)
    too_big = cases[0][0].json_body["error"]
    # 4 MB and one byte is not "4 MB": the size over the limit is rounded up.
    assert too_big["message"] == "O arquivo tem 4,1 MB; o limite é 4 MB por arquivo."
    # A closed ticket takes no more files, from either side.
    operator = world.operator()
    world.call("PATCH", f"/backoffice{path}", operator, {"status": "closed"})
    for account, route in ((support_account, path), (operator, f"/backoffice{path}")):
        closed = _upload(world, account, route, PNG)
        assert (closed.status_code, closed.json_body["error"]["code"]) == (409, "ticket_closed")
    assert _objects(world) == [] and _audit(world, org.id) == []
    after = world.call("GET", path, support_account).json_body
    assert after["attachments"] == [] and after["messages"] == before["messages"]


def test_a_reply_carries_the_files_its_author_uploaded_and_only_those(world, desk):
    org, support_account, ticket = desk
    operator = world.operator()
    back = f"/backoffice/tickets/{ticket['id']}"
    pdf = _upload(world, operator, back, PDF, name="Procedimento de sincronização.pdf").json_body
    log = _upload(world, operator, back, LOG, name="outlook.log").json_body
    assert (pdf["content_type"], pdf["side"], log["content_type"]) == ("application/pdf", "operator", "text/plain")
    # The customer cannot send the operator's files; nothing changes.
    taken = world.call("POST", f"/tickets/{ticket['id']}/messages", support_account,
                       {"body": "Olha isso", "attachment_ids": [pdf["id"]]})
    assert (taken.status_code, taken.json_body["error"]["code"]) == (400, "attachment_not_available")
    answered = world.call("POST", f"{back}/messages", operator,
                          {"body": "Siga o procedimento anexo.", "attachment_ids": [pdf["id"], log["id"]]})
    assert answered.status_code == 201
    reply = answered.json_body["messages"][-1]
    assert {a["id"]: a["message_id"] for a in answered.json_body["attachments"]} == \
        {pdf["id"]: reply["id"], log["id"]: reply["id"]}
    # Sent once: a second message cannot carry them again, and the refusal writes no message.
    again = world.call("POST", f"{back}/messages", operator, {"body": "De novo", "attachment_ids": [pdf["id"]]})
    assert (again.status_code, again.json_body["error"]["code"]) == (400, "attachment_not_available")
    seen = world.call("GET", f"/tickets/{ticket['id']}", support_account).json_body
    assert len(seen["messages"]) == 2 and seen["messages_count"] == 2
    link = world.call("GET", f"/tickets/{ticket['id']}/attachments/{pdf['id']}", support_account).json_body
    assert requests.get(link["url"], timeout=10).content == PDF
    assert sorted(e.after["name"] for e in _audit(world, org.id)) == ["Procedimento de sincronização.pdf", "outlook.log"]


def test_an_operator_viewing_as_the_customer_uses_the_customer_routes(world, desk):
    org, support_account, ticket = desk
    operator = world.operator()
    headers = {**operator.headers, "X-Organization-Id": org.id, "Content-Type": "application/octet-stream"}
    uploaded = world.call("POST", f"/tickets/{ticket['id']}/attachments?name=print.png", operator, PNG, headers=headers)
    assert uploaded.status_code == 201 and uploaded.json_body["uploaded_by"] == operator.user.id


def test_a_ticket_closed_while_its_file_uploads_keeps_neither_the_file_nor_a_record(world, desk, monkeypatch):
    from chalicelib.services import support

    org, support_account, ticket = desk
    operator = world.operator()
    real_put = world.deps.documents.put

    def closing_meanwhile(key, data, content_type):
        stored = real_put(key, data, content_type)
        support.set_status(world.deps, _caller(world, operator), ticket["id"], "closed")
        return stored

    monkeypatch.setattr(world.deps.documents, "put", closing_meanwhile)
    refused = _upload(world, support_account, f"/tickets/{ticket['id']}", PNG)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "ticket_closed")
    assert _objects(world) == [] and _audit(world, org.id) == []
    assert world.call("GET", f"/tickets/{ticket['id']}", support_account).json_body["attachments"] == []


def test_a_ticket_takes_a_limited_number_of_files_and_the_refusal_writes_nothing(world, desk, monkeypatch):
    from chalicelib.domain import tickets as rules

    assert rules.MAX_ATTACHMENTS_PER_TICKET == 20
    monkeypatch.setattr(rules, "MAX_ATTACHMENTS_PER_TICKET", 3)  # the same rule, with fewer uploads
    org, support_account, ticket = desk
    operator = world.operator()
    path, back = f"/tickets/{ticket['id']}", f"/backoffice/tickets/{ticket['id']}"
    # Both sides count: two from the customer, one from the operator.
    for account, route in ((support_account, path), (support_account, path), (operator, back)):
        assert _upload(world, account, route, PNG).status_code == 201
    for account, route in ((support_account, path), (operator, back)):
        refused = _upload(world, account, route, PDF, name="mais um.pdf")
        assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "attachment_limit_reached")
        assert refused.json_body["error"]["message"] == (
            "Este chamado já tem 3 anexos, o limite por chamado: envie os demais arquivos juntos em um .zip ou "
            "abra um novo chamado.")
    # Nothing of the refused files: no object, no record, no audit entry.
    assert len(_objects(world)) == 3 and len(_audit(world, org.id)) == 3
    assert len(world.call("GET", path, support_account).json_body["attachments"]) == 3


def _caller(world, account):
    from chalicelib.services.caller import Caller

    return Caller(user=account.user, organization_id=account.user.organization_id)
