"""An account's webhooks in the console over HTTP against ``vestnik serve``: add (a bad secret
refused with the command's message), parked deliveries listed and replayed (one, then all of
the account's), remove; another account's delivery through this account's address is 404."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.console import ConsoleStack, http_sign_in, wait_for
from tests.support.processes import free_port


def _parked(stack: ConsoleStack, account: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = stack.admin(
        "webhook", "deliveries", "--state", "parked", "--account", account
    )
    return rows


def test_an_operator_adds_a_webhook_replays_its_parked_deliveries_and_removes_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    # Nothing listens on the endpoint's port; a 1 s horizon parks its deliveries at once.
    with ConsoleStack(tmp_path, sqlite_url, VESTNIK_WEBHOOKS_RETRY_HORIZON_SECONDS="1") as stack:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        token = stack.account("acme")
        stack.admin("account", "create", "other")
        acme = stack.admin("account", "show", "acme")["id"]
        url = f"http://127.0.0.1:{free_port()}/hook"
        secret = "s" * 24
        op, csrf = http_sign_in(stack, "op", "s3cret")
        try:
            short = {"url": url, "events": ["call_finished"], "secret": "short", "csrf_token": csrf}
            answer = op.post(f"/accounts/{acme}/webhooks/add", data=short)
            assert answer.status_code == 400 and "16" in answer.text
            assert stack.admin("webhook", "list", "acme") == []
            good = {**short, "events": ["call_started", "call_finished"], "secret": secret}
            answer = op.post(f"/accounts/{acme}/webhooks/add", data=good)
            assert answer.status_code == 200, answer.text
            assert secret not in answer.text and "--secret=SECRET" in answer.text
            (hook,) = stack.admin("webhook", "list", "acme")
            assert (hook["url"], hook["events"]) == (url, ["call_started", "call_finished"])

            stack.call(token, "79161234567")
            parked = wait_for(lambda: len(_parked(stack, "acme")) >= 2, 60, "parked deliveries")
            assert parked
            first, *_ = _parked(stack, "acme")
            page = op.get(f"/accounts/{acme}/webhooks").text
            assert f'data-delivery="{first["id"]}"' in page

            other = stack.admin("webhook", "add", "other", url, "--events", "call_finished",
                                "--secret", secret)  # fmt: skip
            answer = op.post(f"/accounts/{acme}/webhooks/remove",
                             data={"webhook_id": str(other["id"]), "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 404
            assert stack.admin("webhook", "list", "other")[0]["is_active"] is True

            one = {"delivery_id": str(first["id"]), "csrf_token": csrf}
            answer = op.post(f"/accounts/{acme}/webhooks/replay", data=one)
            assert answer.status_code == 200
            assert f"1 delivery queued again (vestnik admin webhook replay {first['id']})" in (
                answer.text
            )
            wait_for(lambda: len(_parked(stack, "acme")) >= 2, 60, "parked again")
            answer = op.post(f"/accounts/{acme}/webhooks/replay",
                             data={"all": "1", "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 200 and "deliveries queued again" in answer.text

            answer = op.post(f"/accounts/{acme}/webhooks/remove",
                             data={"webhook_id": str(hook["id"]), "csrf_token": csrf})  # fmt: skip
            assert answer.status_code == 200 and f"webhook {hook['id']} removed" in answer.text
            assert stack.admin("webhook", "list", "acme")[0]["is_active"] is False
        finally:
            op.close()
