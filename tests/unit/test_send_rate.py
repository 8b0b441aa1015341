"""The email worker's pace (issue #22 §5): a token bucket over a fake clock; no timing assertions."""
import pytest

from chalicelib.domain.send_rate import SendPacer, batch_seconds, share
from chalicelib.settings import from_environ


class FakeTime:
    """A clock that moves only when slept on (or told to)."""

    def __init__(self):
        self.now, self.slept = 100.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_each_concurrent_worker_sends_at_its_share_of_the_quota():
    assert share(14, 2) == 7
    with pytest.raises(ValueError):
        share(0, 2)


def test_a_batch_of_ten_at_seven_a_second_spreads_over_nine_sevenths_of_a_second():
    time = FakeTime()
    pace = SendPacer(7, time.clock, time.sleep)
    started = time.now

    waits = [pace() for _ in range(10)]

    assert waits[0] == 0  # the first goes at once
    assert all(w == pytest.approx(1 / 7) for w in waits[1:])
    assert time.now - started == pytest.approx(batch_seconds(10, 7)) == pytest.approx(9 / 7)


def test_time_spent_elsewhere_counts_and_the_bucket_holds_no_more_than_its_burst():
    time = FakeTime()
    pace = SendPacer(2, time.clock, time.sleep)
    pace()
    time.now += 10  # rendering, SES, a quiet minute: the bucket fills up to one send only
    assert pace() == 0
    assert pace() == pytest.approx(0.5)


def test_an_email_to_three_recipients_costs_three_sends():
    # SES counts recipients against the rate.
    time = FakeTime()
    pace = SendPacer(10, time.clock, time.sleep)
    assert pace(3) == pytest.approx(0.2)  # one in the bucket, two owed
    assert pace(1) == pytest.approx(0.1)


def test_a_wait_longer_than_the_caller_can_is_not_slept_and_takes_nothing():
    # The email worker's batch near its invocation's end (services/notifications.py).
    from chalicelib.domain.send_rate import NoTimeToWait

    time = FakeTime()
    pace = SendPacer(1, time.clock, time.sleep)
    assert pace(1) == 0
    with pytest.raises(NoTimeToWait):
        pace(10, max_wait=5)  # would wait 10 s
    assert time.slept == []
    assert pace(3, max_wait=5) == pytest.approx(3)  # the refused send took nothing from the bucket


def test_the_send_rate_setting_defaults_to_14_and_refuses_nonsense():
    assert from_environ({}).ses_max_send_rate == 14
    assert from_environ({"SES_MAX_SEND_RATE": "50"}).ses_max_send_rate == 50
    for wrong in ("0", "-3", "abc", "inf", "nan"):
        with pytest.raises(ValueError):
            from_environ({"SES_MAX_SEND_RATE": wrong})


class RefusingSes:
    """SES answering every send with one error code."""

    def __init__(self, code):
        from botocore.exceptions import ClientError

        self.exceptions = type("exceptions", (), {"ClientError": ClientError})
        self._error = ClientError({"Error": {"Code": code, "Message": "Maximum sending rate exceeded."}}, "SendEmail")

    def send_email(self, **kwargs):
        raise self._error


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "TooManyRequestsException",
                                  "LimitExceededException"])
def test_ses_throttling_is_transient_never_a_permanent_failure(monkeypatch, code):
    # Raised as it came (SES's own error, not a PermanentMailFailure): the worker releases the claim
    # and SQS delivers the email again. Were the code made permanent, PermanentMailFailure would raise.
    from chalicelib.adapters import mail as mail_adapter
    from chalicelib.adapters.mail import OutgoingEmail, SesMailer

    ses = RefusingSes(code)
    monkeypatch.setattr(mail_adapter, "client", lambda service, region: ses)
    with pytest.raises(BaseException) as raised:
        SesMailer("nao-responda@brasoftware.com.br", "sa-east-1").send(
            OutgoingEmail(to=["a@b.example"], subject="s", text="t", html="h"))
    assert raised.value is ses._error and raised.value.response["Error"]["Code"] == code


def test_a_rejected_message_stays_a_permanent_failure(monkeypatch):
    from chalicelib.adapters import mail as mail_adapter
    from chalicelib.adapters.mail import OutgoingEmail, PermanentMailFailure, SesMailer

    monkeypatch.setattr(mail_adapter, "client", lambda service, region: RefusingSes("MessageRejected"))
    with pytest.raises(PermanentMailFailure):
        SesMailer("nao-responda@brasoftware.com.br", "sa-east-1").send(
            OutgoingEmail(to=["a@b.example"], subject="s", text="t", html="h"))
