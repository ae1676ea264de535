"""Roles and forms in a real browser (Debian's chromium, headless): an account user does not
see another account's call, neither in the list nor by its address; a form sent without its
csrf_token is refused and changes nothing."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By

from tests.support.console import ConsoleStack, chromium, sign_in, wait_for

BETA_NUMBER = "74993720693"


def test_an_account_user_sees_their_calls_only(tmp_path: Path, sqlite_url: str) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack, chromium() as browser:
        acme = stack.account("acme")
        stack.admin("account", "create", "beta")
        stack.admin("number", "add", "beta", BETA_NUMBER)
        stack.admin("user", "create", "acme", "ann", "ann-pw")
        ours = stack.call(acme, "79161234567")
        theirs = stack.call(
            str(stack.admin("key", "create", "beta")["access_token"]), "79161234568",
            virtual_phone_number=BETA_NUMBER,
        )  # fmt: skip
        sign_in(browser, stack, "ann", "ann-pw")
        browser.get(f"{stack.url}/console/calls")
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"tr[data-call='{ours}']"),
                 10, "ann's own call")  # fmt: skip
        assert not browser.find_elements(By.CSS_SELECTOR, f"tr[data-call='{theirs}']")
        assert "79161234568" not in browser.page_source
        browser.get(f"{stack.url}/console/calls/{theirs}")
        assert browser.find_element(By.TAG_NAME, "h1").text == "404 Not found"
        assert "79161234568" not in browser.page_source
        browser.get(f"{stack.url}/console/calls/{ours}")
        assert f"Call {ours}" in browser.find_element(By.TAG_NAME, "h1").text


def test_a_form_without_its_csrf_token_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack, chromium() as browser:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        stack.account("acme")
        sign_in(browser, stack, "op", "s3cret")
        browser.get(f"{stack.url}/console/accounts/1")
        form = browser.find_element(By.CSS_SELECTOR, "form[action$='/numbers/add']")
        form.find_element(By.NAME, "number").send_keys("74993720699")
        # What a forged cross-site form would send: everything but the session's token.
        browser.execute_script(
            "arguments[0].querySelector('input[name=csrf_token]').remove();", form
        )
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: "403 Forbidden" in browser.page_source, 10, "the refusal")
        numbers = [row["number"] for row in stack.admin("number", "list", "acme")]
        assert "74993720699" not in numbers
        # The same form with its token is carried out.
        browser.get(f"{stack.url}/console/accounts/1")
        form = browser.find_element(By.CSS_SELECTOR, "form[action$='/numbers/add']")
        form.find_element(By.NAME, "number").send_keys("74993720699")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: "74993720699" in [r["number"] for r in stack.admin("number", "list",
                 "acme")], 10, "the number added")  # fmt: skip
