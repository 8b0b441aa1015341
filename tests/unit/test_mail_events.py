"""SES's bounce and complaint events read (domain/mail_events.py), the tags the mailer sends, and
the mailbox simulator's answers (adapters/mail_events.py)."""
import json
import logging

import pytest

from chalicelib.adapters import mail as mail_adapter
from chalicelib.adapters.mail import OutgoingEmail, SesMailer
from chalicelib.adapters.mail_events import COMPLAINT, DELIVERY, HARD_BOUNCE, TRANSIENT_BOUNCE, outcome, ses_event
from chalicelib.domain import mail_events as rules


def parse(body):
    return rules.parse_sns_message(body if isinstance(body, str) else json.dumps(body))


def bounce(bounce_type="Permanent", recipients=({"emailAddress": "Ana@Empresa.example",
                                                 "diagnosticCode": "smtp; 550 5.1.1 user unknown"},), **mail):
    return {"eventType": "Bounce",
            "mail": {"messageId": "m-1", "tags": {"organization_id": ["org-1"], "template": ["invoice_issued"]},
                     **mail},
            "bounce": {"bounceType": bounce_type, "bouncedRecipients": list(recipients), "feedbackId": "f-1",
                       "timestamp": "2026-11-30T12:00:00.000Z"}}


def test_a_permanent_bounce_suppresses_its_recipients_with_their_organisation_and_diagnostic():
    event = parse(bounce())
    assert event.kind == rules.BOUNCE and event.suppresses
    assert event.recipients == ("ana@empresa.example",)  # normalised
    assert (event.organization_id, event.template) == ("org-1", "invoice_issued")
    assert event.event_id == "f-1" and event.diagnostic == "smtp; 550 5.1.1 user unknown"


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_a_soft_bounce_suppresses_nothing(bounce_type):
    event = parse(bounce(bounce_type))
    assert event.kind == rules.BOUNCE and not event.suppresses


def test_a_complaint_suppresses_its_recipients():
    event = parse({"eventType": "Complaint", "mail": {"messageId": "m-2"},
                   "complaint": {"complainedRecipients": [{"emailAddress": "bia@empresa.example"}],
                                 "complaintFeedbackType": "abuse"}})
    assert event.kind == rules.COMPLAINT and event.suppresses and event.recipients == ("bia@empresa.example",)
    assert event.event_id == "m-2#complaint" and event.diagnostic == "abuse" and event.organization_id is None


def test_an_identity_notification_is_read_as_well():
    """Feedback notifications of an identity say `notificationType` and carry no tags."""
    body = bounce()
    body["notificationType"] = body.pop("eventType")
    del body["mail"]["tags"]
    event = parse(body)
    assert event.suppresses and event.tags == {}


def test_deliveries_and_rejections_are_read_and_suppress_nothing():
    delivery = parse({"eventType": "Delivery", "mail": {"messageId": "m"},
                      "delivery": {"recipients": ["ana@empresa.example"]}})
    reject = parse({"eventType": "Reject", "mail": {"messageId": "m"}, "reject": {"reason": "Bad content"}})
    assert (delivery.kind, delivery.suppresses) == (rules.DELIVERY, False)
    assert (reject.kind, reject.suppresses, reject.diagnostic) == (rules.REJECT, False, "Bad content")


def test_only_the_products_own_well_formed_tags_are_kept():
    event = parse(bounce(tags={"organization_id": ["../../x"], "template": ["a", "b"], "delivery": ["abc_123"],
                               "ses:configuration-set": ["csp-portal"]}))
    assert event.tags == {"delivery": "abc_123"}


def test_the_diagnostic_is_one_bounded_line():
    event = parse(bounce(recipients=[{"emailAddress": "a@b.example", "diagnosticCode": "smtp;\n550 " + "x" * 900}]))
    assert "\n" not in event.diagnostic and len(event.diagnostic) == rules.DIAGNOSTIC_LENGTH


@pytest.mark.parametrize("raw", [
    "not json", "[]", "null", "42", '"text"', "[" * 100000, b"{}", None, {"eventType": "Bounce"},
    json.dumps({"eventType": "Bounce"}),  # no mail
    json.dumps({"eventType": "Bounce", "mail": {"messageId": ""}, "bounce": {}}),  # empty messageId
    json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}}),  # no bounce object
    json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": []}),
    json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bounceType": "Permanent"}}),
    json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"},
                "bounce": {"bounceType": "Hard", "bouncedRecipients": [{"emailAddress": "a@b.example"}]}}),
    json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"},
                "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "no-at-sign"}]}}),
    json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {
        "bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": f"a{n}@b.example"} for n in range(51)]}}),
    json.dumps({"eventType": "Complaint", "mail": {"messageId": "m"}, "complaint": {"complainedRecipients": {}}}),
    json.dumps({"eventType": ["Bounce"], "mail": {"messageId": "m"}}),
    json.dumps({"eventType": "Explode", "mail": {"messageId": "m"}}),
    json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {
        "bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "a@b.example"}]}}) + " " * (300 * 1024),
])
def test_an_event_that_is_not_one_ses_writes_is_ignored_with_a_log_line_never_an_exception(raw, caplog):
    with caplog.at_level(logging.INFO, logger="csp_portal.domain.mail_events"):
        assert rules.parse_sns_message(raw) is None
    assert "mail event ignored" in caplog.text


@pytest.mark.parametrize("event_type", ["Send", "Open", "Click", "DeliveryDelay", "Rendering Failure", "Subscription"])
def test_the_events_the_product_does_not_act_on_are_ignored(event_type):
    assert parse({"eventType": event_type, "mail": {"messageId": "m"}}) is None


def test_an_ignored_event_does_not_log_its_addresses(caplog):
    with caplog.at_level(logging.INFO, logger="csp_portal.domain.mail_events"):
        parse(bounce("Hard", recipients=[{"emailAddress": "secret.person@empresa.example"}]))
    assert "secret.person" not in caplog.text


@pytest.mark.parametrize("value, safe", [("invoice_issued", "invoice_issued"), ("01m8nw-ab_C", "01m8nw-ab_C"),
                                         ("a b/c@d.e", "a_b_c_d_e"), ("ção", "__o"), ("", "_"), (None, "_"),
                                         ("x" * 300, "x" * 256)])
def test_tag_values_are_what_ses_accepts(value, safe):
    assert rules.tag_value(value) == safe


class RecordingSes:
    class exceptions:
        ClientError = Exception

    def __init__(self):
        self.calls = []

    def send_email(self, **kwargs):
        self.calls.append(kwargs)
        return {"MessageId": "ses-1"}


def test_the_mailer_sends_with_the_configuration_set_and_safe_tags_and_tells_the_simulator(monkeypatch):
    ses, told = RecordingSes(), []
    monkeypatch.setattr(mail_adapter, "client", lambda service, region: ses)
    mailer = SesMailer("Brasoftware <nao-responda@brasoftware.com.br>", "sa-east-1", configuration_set="csp-portal",
                       on_sent=lambda email, message_id, tags: told.append((message_id, tags)))
    email = OutgoingEmail(to=["ana@empresa.example"], subject="Fatura", text="t", html="<p>t</p>",
                          tags={"template": "invoice_issued", "organization_id": "org 1/é"})
    assert mailer.send(email) == "ses-1"
    [call] = ses.calls
    assert call["ConfigurationSetName"] == "csp-portal"
    assert call["EmailTags"] == [{"Name": "organization_id", "Value": "org_1__"},
                                 {"Name": "template", "Value": "invoice_issued"}]
    assert told == [("ses-1", {"organization_id": "org_1__", "template": "invoice_issued"})]


def test_the_mailer_without_a_configuration_set_or_tags_sends_neither(monkeypatch):
    ses = RecordingSes()
    monkeypatch.setattr(mail_adapter, "client", lambda service, region: ses)
    SesMailer("nao-responda@brasoftware.com.br", "sa-east-1").send(
        OutgoingEmail(to=["a@b.example"], subject="s", text="t", html="h"))
    assert "ConfigurationSetName" not in ses.calls[0] and "EmailTags" not in ses.calls[0]


@pytest.mark.parametrize("address, expected", [
    ("bounce@simulator.amazonses.com", HARD_BOUNCE), ("Bounce+financeiro@Simulator.AmazonSES.com", HARD_BOUNCE),
    ("complaint@simulator.amazonses.com", COMPLAINT), ("success@simulator.amazonses.com", DELIVERY),
    ("ooto@simulator.amazonses.com", None), ("ana@bounce.invalid", HARD_BOUNCE),
    ("ana@complaint.invalid", COMPLAINT), ("ana@transient.invalid", TRANSIENT_BOUNCE),
    ("bounce@empresa.example", None), ("ana@bounce.invalid.example", None)])
def test_the_simulators_addresses(address, expected):
    assert outcome(address) == expected


@pytest.mark.parametrize("kind, suppresses", [(HARD_BOUNCE, True), (COMPLAINT, True), (TRANSIENT_BOUNCE, False),
                                              (DELIVERY, False)])
def test_the_simulators_events_read_as_ses_events(kind, suppresses):
    event = parse(ses_event(kind, message_id="m-1", recipients=["ana@empresa.example"],
                            tags={"organization_id": "org-1"}))
    assert event.suppresses is suppresses and event.recipients == ("ana@empresa.example",)
    assert event.organization_id == "org-1"
