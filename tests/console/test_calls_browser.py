"""The calls pages in a real browser (Debian's chromium, headless) against ``vestnik serve``:
a call placed through the API appears and finishes without a reload, its detail tells its
story, its message plays, and a parked webhook delivery is replayed from the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By

from tests.support.console import ConsoleStack, chromium, screenshot, sign_in, wait_for
from tests.support.processes import free_port

# A refused endpoint parks its deliveries after a few seconds (a replayed one stays pending
# long enough to be seen so).
FAST_PARKING = {
    "VESTNIK_WEBHOOKS_RETRY_HORIZON_SECONDS": "4",
    "VESTNIK_WEBHOOKS_BACKOFF_BASE_SECONDS": "0.5",
    "VESTNIK_WEBHOOKS_BACKOFF_MAX_SECONDS": "1",
}


def _deliveries(stack: ConsoleStack, state: str | None = None) -> list[dict[str, Any]]:
    argv = ["webhook", "deliveries", *(["--state", state] if state else [])]
    found: list[dict[str, Any]] = stack.admin(*argv)
    return found


def _row_reason(browser: Any, session_id: int) -> str:
    cell = browser.find_element(By.CSS_SELECTOR, f"tr[data-call='{session_id}'] .finish-reason")
    return str(cell.text)


def test_a_call_appears_finishes_live_and_its_detail_tells_the_story(
    tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url, **FAST_PARKING) as stack, chromium() as browser:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        token = stack.account("acme")
        refused = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: every POST fails
        stack.admin("webhook", "add", "acme", refused, "--events", "call_finished",
                    "--secret", "a-secret-of-16-chars")  # fmt: skip
        sign_in(browser, stack, "op", "s3cret")
        browser.get(f"{stack.url}/console/calls")
        browser.execute_script("window.__marker = 1;")

        session_id = stack.call(token, "79161234567", external_id="order-42")
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"tr[data-call='{session_id}']"),
                 5, "the new call in the list")  # fmt: skip
        wait_for(lambda: "success_finish" in _row_reason(browser, session_id), 15, "the finish")
        assert browser.execute_script("return window.__marker;") == 1  # never reloaded
        row = browser.find_element(By.CSS_SELECTOR, f"tr[data-call='{session_id}']")
        assert "finished" in row.find_element(By.CSS_SELECTOR, ".state").text
        assert "order-42" in row.text and "79161234567" in row.text
        screenshot(browser, "calls")

        row.find_element(By.LINK_TEXT, str(session_id)).click()
        wait_for(lambda: browser.current_url.endswith(f"/console/calls/{session_id}"), 10, "detail")
        steps = [li.get_attribute("data-what") for li in
                 browser.find_elements(By.CSS_SELECTOR, "ol.timeline li")]  # fmt: skip
        assert steps[0] == "created" and "answered" in steps and steps[-1] == "ended", steps
        reason = browser.find_element(By.CSS_SELECTOR, ".call-summary .finish-reason code")
        assert reason.text == "success_finish"
        params = browser.find_element(By.CSS_SELECTOR, "pre.request-params").text
        assert '"contact": "79161234567"' in params and '"external_id": "order-42"' in params
        assert token not in browser.page_source  # the token is never shown

        script = ("const a = document.querySelector('audio.message-audio'); a.load();"
                  "return null;")  # fmt: skip
        browser.execute_script(script)
        loaded = "const a = document.querySelector('audio.message-audio'); " \
                 "return a.readyState >= 1 && a.duration > 0 ? a.duration : 0;"  # fmt: skip
        assert wait_for(lambda: browser.execute_script(loaded), 60, "the message audio") > 0.5

        parked = wait_for(lambda: _deliveries(stack, "parked"), 30, "a parked delivery")
        delivery_id = parked[0]["id"]
        assert parked[0]["call_session_id"] == session_id
        browser.refresh()
        screenshot(browser, "call-detail")
        browser.find_element(
            By.CSS_SELECTOR, f"tr[data-delivery='{delivery_id}'] form.replay button"
        ).click()
        flash = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".flash"), 10, "flash")
        assert "error" not in (flash.get_attribute("class") or ""), flash.text
        states = {d["id"]: d["state"] for d in _deliveries(stack)}
        assert states[delivery_id] == "pending", states

        # A call's detail opened while it is going on follows it to its end without a reload.
        talk = "Здравствуйте! Это длинное сообщение, оно звучит несколько секунд. " * 3
        going = stack.call(token, "79161230000", text=talk)
        browser.get(f"{stack.url}/console/calls/{going}")
        browser.execute_script("window.__marker = 2;")
        summary = ".call-summary .finish-reason"
        assert browser.find_element(By.CSS_SELECTOR, summary).text == "—"  # not ended yet
        wait_for(lambda: "success_finish" in browser.find_element(By.CSS_SELECTOR, summary).text,
                 30, "the detail's finish")  # fmt: skip
        assert browser.execute_script("return window.__marker;") == 2
        steps = [li.get_attribute("data-what") for li in
                 browser.find_elements(By.CSS_SELECTOR, "ol.timeline li")]  # fmt: skip
        assert "answered" in steps and steps[-1] == "ended", steps
