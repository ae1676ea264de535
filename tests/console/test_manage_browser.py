"""The management pages in a real browser (Debian's chromium, headless) against ``vestnik
serve``: an operator creates an account, numbers, a key (shown once, then blocked), uploads a
media file and plays it."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By

from tests.support.console import ConsoleStack, chromium, screenshot, sign_in, wait_for
from tests.support.sessions import VPN
from vestnik.auth import KEY_SHOWN_ONCE


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A 440 Hz tone as 16-bit mono WAV (the standard library's ``wave``)."""
    import math

    frames = bytearray()
    for i in range(int(seconds * rate)):
        sample = int(9000 * math.sin(2 * math.pi * 440 * i / rate))
        frames += sample.to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return out.getvalue()


def _submit(browser: Any, form_css: str, **fields: str) -> None:
    """Fill a form's fields and send it (confirmations accepted)."""
    form = browser.find_element(By.CSS_SELECTOR, form_css)
    for name, value in fields.items():
        box = form.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    _answered(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def _answered(browser: Any, button: Any) -> None:
    """Click ``button`` (confirmations accepted) and wait for the page that answers it."""
    from selenium.common.exceptions import WebDriverException

    page = browser.find_element(By.TAG_NAME, "html")
    browser.execute_script("window.confirm = () => true;")
    button.click()

    def replaced() -> bool:
        # The old page is gone once touching its root fails: chromedriver says so with a
        # stale-element error, or, caught mid-navigation, with "Node with given id does not
        # belong to the document" (a plain WebDriverException; seen once in CI).
        try:
            page.is_enabled()
        except WebDriverException:
            return True
        return False

    wait_for(replaced, 10, "the page answering the form")


def _flash(browser: Any) -> Any:
    return wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "p.flash"), 10, "the outcome")


def _row_button(browser: Any, table: str, text: str, label: str) -> None:
    """Click the button ``label`` in the row of ``table`` that shows ``text``."""
    for row in browser.find_elements(By.CSS_SELECTOR, f"table.{table} tbody tr"):
        if text in row.text:
            for button in row.find_elements(By.CSS_SELECTOR, "button"):
                if button.text == label:
                    _answered(browser, button)
                    return
    raise AssertionError(f"no {label!r} button in the {table} row showing {text!r}")


def _informer_call(stack: ConsoleStack, token: str) -> dict[str, Any]:
    params = {"access_token": token, "virtual_phone_number": VPN, "contact": "79161234567",
              "contact_message": {"type": "tts", "value": "Проверка"}}  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "start.informer_call", "params": params}
    reply: dict[str, Any] = httpx.post(f"{stack.url}/v4.0", json=body, timeout=15).json()
    return reply


def test_an_operator_manages_an_account_its_key_numbers_and_media(
    tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack, chromium() as browser:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        sign_in(browser, stack, "op", "s3cret")

        browser.get(f"{stack.url}/console/accounts")
        _submit(browser, "#account-create", name="acme")
        assert "account 1 created" in _flash(browser).text
        account_id = stack.admin("account", "show", "acme")["id"]
        # The answer is the new account's page.
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Account acme")

        # A bad number is refused with the command line's message, and nothing is added.
        _submit(browser, "#number-add", number="123")
        flash = _flash(browser)
        assert "error" in flash.get_attribute("class").split()
        assert "'123' is not a phone number in E.164 form" in flash.text
        assert stack.admin("number", "list", "acme") == []
        _submit(browser, "#number-add", number=VPN)
        assert f"number {VPN} added" in _flash(browser).text
        _submit(browser, "#number-add", number="74993720693")
        assert "74993720693" in browser.find_element(By.CSS_SELECTOR, "table.numbers").text
        _row_button(browser, "numbers", "74993720693", "Remove")
        assert "removed" in _flash(browser).text
        assert [n["number"] for n in stack.admin("number", "list", "acme")] == [VPN]
        assert "74993720693" not in browser.find_element(By.CSS_SELECTOR, "table.numbers").text

        # A new key: its token on the answering page, once.
        _submit(browser, "#key-create")
        token = wait_for(lambda: browser.find_element(By.ID, "access-token"), 10, "token").text
        assert len(token) >= 32 and KEY_SHOWN_ONCE in browser.page_source
        assert "result" in _informer_call(stack, token)  # the key works
        browser.get(f"{stack.url}/console/accounts/{account_id}")
        assert token not in browser.page_source
        screenshot(browser, "account")

        # Blocked: the API refuses it at once.
        (key,) = stack.admin("key", "list", "acme")
        _row_button(browser, "keys", str(key["id"]), "Block")
        assert f"key {key['id']} is blocked" in _flash(browser).text
        assert stack.admin("key", "list", "acme")[0]["is_blocked"] is True
        refusal = _informer_call(stack, token)
        assert "access_token_blocked" in str(refusal.get("error")), refusal

        # An uploaded file is listed and plays in the page.
        wav = tmp_path / "greeting.wav"
        wav.write_bytes(_wav())
        browser.get(f"{stack.url}/console/accounts/{account_id}/media")
        form = browser.find_element(By.CSS_SELECTOR, "#media-add")
        form.find_element(By.NAME, "file").send_keys(str(wav))
        form.find_element(By.NAME, "name").send_keys("Greeting")
        _answered(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert "error" not in _flash(browser).get_attribute("class").split()
        (media,) = [m for m in stack.admin("media", "list", "acme") if m["type"] == "user"]
        assert media["name"] == "Greeting" and media["original_filename"] == "greeting.wav"
        audio = browser.find_element(By.CSS_SELECTOR, f"tr[data-media='{media['id']}'] audio")
        browser.execute_script("arguments[0].load();", audio)
        duration = wait_for(
            lambda: browser.execute_script(
                "const a = arguments[0]; return a.readyState > 0 && a.duration;", audio
            ),
            10,
            "the audio's metadata",
        )
        assert abs(float(duration) - 1.0) < 0.2
        screenshot(browser, "media")

        browser.get(f"{stack.url}/console/accounts")
        assert "acme" in browser.find_element(By.CSS_SELECTOR, "table.accounts").text
        screenshot(browser, "accounts")
        browser.get(f"{stack.url}/console/trunks")
        rows = browser.find_elements(By.CSS_SELECTOR, "table.trunks tbody tr")
        assert rows and "127.0.0.1" in rows[0].text
        stored = stack.admin("trunk", "list")[0]
        assert stored["updated_at"] is not None  # the running service stored its trunk
        assert rows[0].find_elements(By.TAG_NAME, "td")[-1].text != "—"
        screenshot(browser, "trunks")
