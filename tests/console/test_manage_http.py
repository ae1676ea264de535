"""The management pages over HTTP against ``vestnik serve``: an account user reads their own
account only and changes nothing; a form without its CSRF token changes nothing; an operator
cannot lock themselves out; another account's objects are 404 in any address."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.console import ConsoleStack, http_sign_in
from tests.support.sessions import VPN


def _wav(tmp_path: Path) -> Path:
    import wave

    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"".join((i * 700 % 20000 - 10000).to_bytes(2, "little", signed=True)
                                 for i in range(8000)))  # fmt: skip
    return path


def test_an_account_user_reads_their_account_only_and_changes_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack:
        stack.account("acme")
        stack.admin("account", "create", "other")  # (a number belongs to one account only)
        stack.admin("key", "create", "other")
        acme = stack.admin("account", "show", "acme")["id"]
        other = stack.admin("account", "show", "other")["id"]
        stack.admin("user", "create", "acme", "bob", "-", stdin="b0b-secret\n")
        media = stack.admin("media", "add", "other", str(_wav(tmp_path)))["media_file_id"]
        own = stack.admin("media", "add", "acme", str(_wav(tmp_path)))["media_file_id"]
        bob, csrf = http_sign_in(stack, "bob", "b0b-secret")
        try:
            for section in ("", "/media", "/webhooks"):
                page = bob.get(f"/accounts/{acme}{section}")
                assert page.status_code == 200
                assert "acme" in page.text
                # Read-only: the only form is the header's logout.
                assert re.findall(r"<form[^>]*action=\"([^\"]+)\"", page.text) == [
                    "/console/logout"
                ]
            assert VPN in bob.get(f"/accounts/{acme}").text
            played = bob.get(f"/accounts/{acme}/media/{own}/audio")
            assert played.status_code == 200 and played.content[:4] == b"RIFF"
            for path in (f"/accounts/{other}", f"/accounts/{other}/media",
                         f"/accounts/{other}/webhooks", "/accounts", "/trunks", "/operators",
                         f"/accounts/{other}/media/{media}/audio",
                         f"/accounts/{acme}/media/{media}/audio", "/accounts/999"):  # fmt: skip
                assert bob.get(path).status_code == 404, path
            for path, data in ((f"/accounts/{acme}/numbers/add", {"number": "74993720693"}),
                               (f"/accounts/{acme}/keys/create", {}),
                               (f"/accounts/{acme}/deactivate", {}),
                               (f"/accounts/{other}/numbers/add", {"number": "74993720693"}),
                               ("/accounts", {"name": "mine"}),
                               ("/operators", {"login": "bob2", "password": "x"})):  # fmt: skip
                answer = bob.post(path, data={**data, "csrf_token": csrf})
                assert answer.status_code == 404, path
        finally:
            bob.close()
        assert [n["number"] for n in stack.admin("number", "list", "acme")] == [VPN]
        assert stack.admin("number", "list", "other") == []
        assert len(stack.admin("key", "list", "acme")) == 1
        assert stack.admin("account", "show", "acme")["is_active"] is True
        assert [a["name"] for a in stack.admin("account", "list")] == ["acme", "other"]
        assert [o["login"] for o in stack.admin("operator", "list")] == []


def test_forms_without_the_csrf_token_or_on_another_accounts_objects_change_nothing(
    tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        stack.admin("operator", "create", "op2", "--password-stdin", stdin="s3cret\n")
        stack.account("acme")
        stack.admin("account", "create", "other")  # (a number belongs to one account only)
        stack.admin("key", "create", "other")
        acme = stack.admin("account", "show", "acme")["id"]
        (other_key,) = stack.admin("key", "list", "other")
        theirs = stack.admin("media", "add", "other", str(_wav(tmp_path)))["media_file_id"]
        ours = stack.admin("media", "add", "acme", str(_wav(tmp_path)))["media_file_id"]
        op, csrf = http_sign_in(stack, "op", "s3cret")
        try:
            answer = op.post(f"/accounts/{acme}/numbers/add", data={"number": "74993720693"})
            assert answer.status_code == 403
            answer = op.post(f"/accounts/{acme}/numbers/add",
                             data={"number": "74993720693", "csrf_token": "forged"})  # fmt: skip
            assert answer.status_code == 403
            assert op.post("/accounts", data={"name": "sneaky"}).status_code == 403
            # Another account's key through this account's address: 404, not blocked.
            answer = op.post(f"/accounts/{acme}/keys/block",
                             data={"key_id": str(other_key["id"]), "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 404
            media = f"/accounts/{acme}/media/remove"
            answer = op.post(media, data={"media_id": str(theirs), "csrf_token": csrf})
            assert answer.status_code == 404
            answer = op.post(media, data={"media_id": str(ours), "csrf_token": csrf})
            assert answer.status_code == 200 and f"media file {ours} (tone) removed" in (
                answer.text
            )
            # An operator cannot block or remove themselves.
            for action in ("block", "remove"):
                answer = op.post(f"/operators/{action}", data={"login": "op", "csrf_token": csrf})
                assert answer.status_code == 409
                assert f"you cannot {action} yourself" in answer.text
            # Bad input: the command's message, status 400, nothing changed.
            answer = op.post(f"/accounts/{acme}/settings",
                             data={"minute-limit": "lots", "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 400 and "--minute-limit" in answer.text
            # The same form with a good value changes the account, as the CLI would.
            answer = op.post(f"/accounts/{acme}/settings", data={
                "minute-limit": "42", "international": "on", "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 200
            assert "vestnik admin account set 1 --minute-limit=42 --international=on" in (
                answer.text
            )
            answer = op.post(f"/accounts/{acme}/deactivate",
                             data={"release-calls": "1", "csrf_token": csrf})  # fmt: skip
            assert "vestnik admin account deactivate 1 --release-calls" in answer.text
            assert stack.admin("account", "show", "acme")["is_active"] is False
            answer = op.post(f"/accounts/{acme}/activate", data={"csrf_token": csrf})
            assert "account 1 is active" in answer.text
            answer = op.post("/operators/block", data={"login": "op2", "csrf_token": csrf})
            assert answer.status_code == 200 and "operator 2 (op2) blocked" in answer.text
            # Passwords go to the commands on stdin, never on the command line shown.
            answer = op.post("/operators", data={"login": "op3", "password": "th1rd-pw",
                                                 "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 200 and "operator create op3 --password-stdin" in (
                answer.text
            )
            http_sign_in(stack, "op3", "th1rd-pw")[0].close()
            users = f"/accounts/{acme}/users"
            answer = op.post(f"{users}/create", data={"login": "carol", "password": "c4rol-pw",
                                                      "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 200 and "c4rol-pw" not in answer.text
            http_sign_in(stack, "carol", "c4rol-pw")[0].close()
            change = {"login": "carol", "password": "new-c4rol", "state": "inactive"}
            answer = op.post(f"{users}/set", data={**change, "csrf_token": csrf})
            assert answer.status_code == 200 and "new-c4rol" not in answer.text
            assert stack.admin("user", "list", "acme")[0]["is_active"] is False
            answer = op.post(f"{users}/remove", data={"login": "carol", "csrf_token": csrf})
            assert answer.status_code == 200 and stack.admin("user", "list", "acme") == []
        finally:
            op.close()
        assert [n["number"] for n in stack.admin("number", "list", "acme")] == [VPN]
        assert [a["name"] for a in stack.admin("account", "list")] == ["acme", "other"]
        assert stack.admin("key", "list", "other")[0]["is_blocked"] is False
        assert [m["id"] for m in stack.admin("media", "list", "other") if m["type"] == "user"] == [
            theirs
        ]
        assert [m for m in stack.admin("media", "list", "acme") if m["type"] == "user"] == []
        shown = stack.admin("account", "show", "acme")
        assert (shown["minute_limit"], shown["allow_international"]) == (42, True)
        assert {o["login"]: o["is_blocked"] for o in stack.admin("operator", "list")} == {
            "op": False, "op2": True, "op3": False}  # fmt: skip
