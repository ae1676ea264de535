"""The calls pages over HTTP against ``vestnik serve``: an account user sees only their
account's calls (list, detail, audio, replay: 404 for the others'), the filters read a number
in any format, bad filter input is a clear 400, and a recorded call's audio is served."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.support.console import ConsoleStack, csrf_in, http_sign_in, wait_for

BETA_NUMBER = "74993720693"


def _other_account(stack: ConsoleStack, name: str, number: str) -> str:
    """An account with its own caller number (``stack.account`` gives every one the same)."""
    stack.admin("account", "create", name)
    stack.admin("number", "add", name, number)
    return str(stack.admin("key", "create", name)["access_token"])


def _call(stack: ConsoleStack, token: str, number: str, contact: str, **extra: object) -> int:
    params = {"access_token": token, "virtual_phone_number": number, "contact": contact,
              "contact_message": {"type": "tts", "value": "Проверка"}, **extra}  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "start.informer_call", "params": params}
    reply = httpx.post(f"{stack.url}/v4.0", json=body, timeout=15).json()
    assert "result" in reply, reply
    return int(reply["result"]["data"]["call_session_id"])


def _finished(stack: ConsoleStack, session_id: int) -> None:
    wait_for(lambda: stack.session(session_id)["state"] == "finished", 20, "the call's end")


def test_an_account_user_sees_only_their_calls(tmp_path: Path, sqlite_url: str) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack:
        acme, beta = stack.account("acme"), _other_account(stack, "beta", BETA_NUMBER)
        stack.admin("user", "create", "acme", "u1", "pw-of-u1")
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        stack.admin("webhook", "add", "beta", "http://127.0.0.1:9/hook", "--events",
                    "call_finished", "--secret", "a-secret-of-16-chars")  # fmt: skip
        ours = stack.call(acme, "79161234567", external_id="ours")
        theirs = _call(stack, beta, BETA_NUMBER, "79167654321", external_id="theirs")
        _finished(stack, ours)
        _finished(stack, theirs)
        delivery = wait_for(lambda: stack.admin("webhook", "deliveries"), 20, "a delivery")[0]

        user, csrf = http_sign_in(stack, "u1", "pw-of-u1")
        listed = user.get("/calls").text + user.get("/calls/rows").text
        assert f'data-call="{ours}"' in listed and f'data-call="{theirs}"' not in listed
        assert user.get("/calls", params={"account": "beta"}).text.count("data-call=") == 1
        assert user.get(f"/calls/{ours}").status_code == 200
        for path in ("", "/live", "/message.wav", "/recording.wav"):
            assert user.get(f"/calls/{theirs}{path}").status_code == 404, path
        replay = user.post(f"/calls/{theirs}/deliveries/{delivery['id']}/replay",
                           data={"csrf_token": csrf})  # fmt: skip
        assert replay.status_code == 404
        page = user.get(f"/calls/{ours}").text
        assert 'form class="inline replay"' not in page

        operator, _ = http_sign_in(stack, "op", "s3cret")
        for path in (f"/calls/{theirs}", f"/calls/{ours}"):
            assert operator.get(path).status_code == 200
        for path in ("/calls/abc", "/calls/999999", "/calls/999999/message.wav"):
            assert operator.get(path).status_code == 404, path
        form = {"csrf_token": csrf_in(operator.get("/calls").text)}
        wrong_call = operator.post(f"/calls/{ours}/deliveries/{delivery['id']}/replay", data=form)
        assert wrong_call.status_code == 404  # the delivery is not this call's
        pending = operator.post(f"/calls/{theirs}/deliveries/{delivery['id']}/replay", data=form)
        assert pending.status_code == 409  # still pending (retried for a day): nothing to replay
        assert "only parked deliveries can be replayed" in pending.text


def test_filters_read_a_number_in_any_format_and_refuse_bad_input(
    tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack:
        token = stack.account("acme")
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        wanted = stack.call(token, "79161234567", external_id="order-1", record=True)
        other = stack.call(token, "79035550000", external_id="order-2")
        _finished(stack, wanted)
        _finished(stack, other)
        client, _ = http_sign_in(stack, "op", "s3cret")

        def ids(**params: str) -> set[int]:
            page = client.get("/calls/rows", params=params)
            assert page.status_code == 200
            return {int(i) for i in re.findall(r'data-call="(\d+)"', page.text)}

        assert ids() == {wanted, other}
        for typed in ("+7 916 123-45-67", "916 123 45 67", "916-123"):
            assert ids(contact=typed) == {wanted}, typed
        assert ids(q="+7 (916) 123-45-67") == {wanted}
        assert ids(q="order-2") == {other}
        assert ids(external_id="order-1") == {wanted}
        assert ids(state="finished", finish_reason="success_finish") == {wanted, other}
        assert ids(state="queued") == set()
        assert ids(id=str(other)) == {other}
        today = time.strftime("%Y-%m-%d", time.gmtime())  # the console's zone is UTC here
        assert ids(**{"from": today, "till": today}) == {wanted, other}
        assert ids(**{"till": "2000-01-01"}) == set()
        assert ids(account="acme") == {wanted, other} and ids(account="nobody") == set()

        for bad, says in (({"id": "12x"}, "call_session_id: &#39;12x&#39; is not a number"),
                          ({"from": "yesterday"}, "from: &#39;yesterday&#39; is not a date"),
                          ({"state": "bogus"}, "state: &#39;bogus&#39; is not one of"),
                          ({"page": "0"}, "page: &#39;0&#39; is not a page number")):  # fmt: skip
            page = client.get("/calls", params=bad)
            assert page.status_code == 400 and says in page.text, (bad, page.text[:300])

        recording = client.get(f"/calls/{wanted}/recording.wav")
        assert recording.status_code == 200
        assert recording.headers["content-type"] == "audio/wav"
        assert recording.content[:4] == b"RIFF"
        assert client.get(f"/calls/{other}/recording.wav").status_code == 404
        assert 'class="recording-audio"' in client.get(f"/calls/{wanted}").text
        message = client.get(f"/calls/{wanted}/message.wav")
        assert message.status_code == 200 and message.content[:4] == b"RIFF"
        assert len(message.content) > 8000  # more than half a second of 8 kHz 16-bit audio


def test_an_operator_releases_a_waiting_call_and_a_user_cannot(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The Release button is ``session release``: a session waiting for its calling window
    ends ``released`` without an INVITE; an account user's POST is 404; a finished one, 409."""
    with ConsoleStack(tmp_path, sqlite_url) as stack:
        token = stack.account("acme")
        stack.admin("user", "create", "acme", "u1", "pw-u1")
        stack.admin("operator", "create", "op", "--password-stdin", stdin="pw-op\n")
        hour = time.gmtime().tm_hour
        window = {"from": f"{(hour + 2) % 24:02d}:00", "till": f"{(hour + 3) % 24:02d}:00",
                  "timezone": "UTC"}  # fmt: skip
        waiting = stack.call(token, "79161234567", calling_window=window)
        assert stack.session(waiting)["state"] == "queued"
        user, user_csrf = http_sign_in(stack, "u1", "pw-u1")
        page = user.get(f"/calls/{waiting}")
        assert page.status_code == 200 and "/release" not in page.text
        assert (
            user.post(f"/calls/{waiting}/release", data={"csrf_token": user_csrf}).status_code
            == 404
        )
        operator, csrf = http_sign_in(stack, "op", "pw-op")
        page = operator.get(f"/calls/{waiting}").text
        assert f"vestnik admin session release {waiting}" in page
        assert operator.post(f"/calls/{waiting}/release").status_code == 403  # no CSRF token
        assert stack.session(waiting)["state"] == "queued"
        reply = operator.post(f"/calls/{waiting}/release", data={"csrf_token": csrf})
        assert reply.status_code == 200, reply.text
        shown = stack.session(waiting)
        assert (shown["state"], shown["finish_reason"]) == ("finished", "released")
        assert stack.sipp.received("INVITE") == 0
        again = operator.post(f"/calls/{waiting}/release", data={"csrf_token": csrf})
        assert again.status_code == 409 and "session release" in again.text
