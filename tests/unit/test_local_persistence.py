"""`make run` keeps its data: moto's backends survive a pickle (queued messages, Cognito users who
still log in with their password and get tokens signed with the same key), a damaged or foreign
file is refused in words, and a save never sees a request half done.

The backends here are built directly (not through the test session's moto server), so nothing of
the shared embedded AWS is touched."""
import pickle
import threading
import time

import pytest

from local import persistence

ACCOUNT = "000000000042"


def roundtrip(obj):
    return pickle.loads(persistence.pickled(obj))


def test_a_queue_keeps_its_messages_and_still_delivers_after_a_restore():
    from moto.sqs.models import SQSBackend

    sqs = SQSBackend("sa-east-1", ACCOUNT)
    sqs.create_queue("jobs")
    sent = sqs.send_message("jobs", '{"contract": 1}')
    restored = roundtrip(sqs)
    [message] = restored.receive_message("jobs", 10, 0, 30)
    assert (message.id, message.body) == (sent.id, '{"contract": 1}')
    restored.send_message("jobs", "another")  # its lock works again
    assert [m.body for m in restored.receive_message("jobs", 10, 0, 30)] == ["another"]


def test_a_cognito_user_logs_in_with_the_same_password_and_id_after_a_restore():
    import jwt
    from moto.cognitoidp.models import CognitoIdpBackend

    cognito = CognitoIdpBackend("sa-east-1", ACCOUNT)
    pool = cognito.create_user_pool("users", {"UsernameAttributes": ["email"]})
    client = cognito.create_user_pool_client(pool.id, False, {"ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]})
    user = cognito.admin_create_user(pool.id, "ana@example.com", "SUPPRESS", "Temp#2026pass",
                                     [{"Name": "email", "Value": "ana@example.com"}])
    cognito.admin_set_user_password(pool.id, "ana@example.com", "Demo#2026portal", True)
    restored = roundtrip(cognito)
    answer = restored.initiate_auth(client.id, "USER_PASSWORD_AUTH",
                                    {"USERNAME": "ana@example.com", "PASSWORD": "Demo#2026portal"})
    token = answer["AuthenticationResult"]["AccessToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == user.id
    # Signed with the key the (unchanged) JWKS publishes.
    public = restored.user_pools[pool.id].json_web_key.as_dict(private=False)
    assert public == pool.json_web_key.as_dict(private=False)
    with pytest.raises(Exception):
        restored.initiate_auth(client.id, "USER_PASSWORD_AUTH",
                               {"USERNAME": "ana@example.com", "PASSWORD": "wrong#Password1"})


def test_a_damaged_or_foreign_state_file_is_refused_in_words(tmp_path):
    import moto

    damaged = tmp_path / "damaged.pickle"
    damaged.write_bytes(b"not a pickle")
    with pytest.raises(persistence.StateError, match="cannot be read"):
        persistence.load(str(damaged))
    foreign = tmp_path / "foreign.pickle"
    foreign.write_bytes(pickle.dumps({"format": persistence.FORMAT, "moto": "0.0.1", "local": {}, "backends": []}))
    with pytest.raises(persistence.StateError, match=f"moto 0.0.1, this is moto {moto.__version__}"):
        persistence.load(str(foreign))
    assert persistence.load(str(tmp_path / "absent.pickle")) is None


def test_the_file_is_replaced_whole(tmp_path):
    path = tmp_path / "state" / "local-state.pickle"
    persistence.write_atomically(str(path), b"first")
    persistence.write_atomically(str(path), b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["local-state.pickle"]
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the demo users' passwords


def test_a_save_waits_for_the_requests_inside_and_holds_back_new_ones():
    gate = persistence.Gate()
    events = []
    inside, release = threading.Event(), threading.Event()

    def request(name, hold=None):
        with gate.shared():
            events.append(f"{name} in")
            if hold:
                inside.set()
                hold.wait(5)
            events.append(f"{name} out")

    first = threading.Thread(target=request, args=("first", release))
    first.start()
    inside.wait(5)

    def save():
        with gate.exclusive():
            events.append("save")

    saver = threading.Thread(target=save)
    saver.start()
    time.sleep(0.1)
    second = threading.Thread(target=request, args=("second",))
    second.start()
    time.sleep(0.1)
    assert events == ["first in"]  # the save waits for the first; the second waits for the save
    release.set()
    for thread in (first, saver, second):
        thread.join(5)
    assert events == ["first in", "first out", "save", "second in", "second out"]


def test_new_demo_data_starts_with_an_empty_outbox_and_the_old_emails_set_aside(tmp_path):
    from local.run import set_aside_old_emails

    outbox = tmp_path / "outbox"
    assert set_aside_old_emails(str(outbox)) is None  # nothing there yet
    outbox.mkdir()
    assert set_aside_old_emails(str(outbox)) is None  # empty: left as is
    (outbox / "20261221T031000Z-financeiro@oficinadigital.example-fatura-n-1.eml").write_text("old")
    aside = set_aside_old_emails(str(outbox))
    assert aside.startswith(str(outbox) + "-before-") and not outbox.exists()
    assert [p.name for p in (tmp_path / aside).iterdir()] == [
        "20261221T031000Z-financeiro@oficinadigital.example-fatura-n-1.eml"]


def test_the_state_is_saved_every_interval_not_only_on_stop(tmp_path):
    path = tmp_path / "local-state.pickle"
    saves = []

    def local_state():
        saves.append(time.time())
        return {"clock": "2026-12-21T03:10:00+00:00", "saves": len(saves)}

    saver = persistence.Saver(str(path), persistence.Gate(), local_state, interval=0.05)
    saver.start()
    deadline = time.time() + 5
    while len(saves) < 2 and time.time() < deadline:
        time.sleep(0.02)
    saver.stop()
    assert len(saves) >= 2
    with open(path, "rb") as fh:
        state = pickle.load(fh)
    assert state["local"]["clock"] == "2026-12-21T03:10:00+00:00" and state["local"]["saves"] >= 1

