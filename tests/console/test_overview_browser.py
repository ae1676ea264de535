"""The overview in a real browser (Debian's chromium, headless) against the real service: the
chart after a real call, and its live part following a second call without a reload."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By

from tests.support.console import ConsoleStack, chromium, screenshot, sign_in, wait_for


def _value(browser: object, card: str) -> str:
    element = browser.find_element(By.CSS_SELECTOR, f"#card-{card} .value")  # type: ignore[attr-defined]
    return str(element.text)


def test_the_overview_charts_a_real_call_and_follows_the_next_without_a_reload(
    tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack, chromium(height=1500) as browser:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        token = stack.account("acme")
        first = stack.call(token, "79161234567")
        wait_for(lambda: stack.session(first)["state"] == "finished", 30, "the first call's end")
        sign_in(browser, stack, "op", "s3cret")
        assert browser.current_url.endswith("/console/")
        bars = browser.find_elements(By.CSS_SELECTOR, "#overview-chart rect.o-answered")
        assert len(bars) == 1
        assert stack.session(first)["finish_reason"] == "success_finish"
        answered = '#overview-outcomes tr[data-outcome="answered"]'
        assert "success_finish 1" in browser.find_element(By.CSS_SELECTOR, answered).text
        assert _value(browser, "answer-rate") == "100 %"
        assert _value(browser, "placed") == "1"
        trunks = browser.find_element(By.ID, "overview-trunks").text
        assert "up" in trunks or "unknown" in trunks
        browser.execute_script("window.vestnikNoReload = true;")
        second = stack.call(token, "79161234568")
        # The live part shows the second call while it runs or once it ended, then its end.
        wait_for(lambda: _value(browser, "placed") == "2", 10, "the second call on the page")
        wait_for(lambda: stack.session(second)["state"] == "finished", 30, "the second call's end")
        wait_for(lambda: "2 answered of 2 finished" in browser.find_element(
            By.ID, "card-answer-rate").text, 10, "the second call's outcome")  # fmt: skip
        assert browser.execute_script("return window.vestnikNoReload === true;")
        answered = browser.find_elements(By.CSS_SELECTOR, "#overview-chart rect.o-answered")
        assert sum(int(r.get_attribute("textContent").split()[-1]) for r in answered) == 2
        screenshot(browser, "overview")
        # The search box: two clicks from the overview to the call to that contact.
        browser.find_element(By.NAME, "q").send_keys("+7 916 123-45-67")
        browser.find_element(By.CSS_SELECTOR, "form.find button[type=submit]").click()
        wait_for(lambda: "/console/calls?q=%2B7+916+123-45-67" in browser.current_url, 10,
                 "the calls list searched by the number")  # fmt: skip
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#call-rows a[href*='/calls/']"),
                 10, "the call in the list")  # fmt: skip
