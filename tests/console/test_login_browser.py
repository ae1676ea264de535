"""Signing in and out in a real browser (Debian's chromium, headless)."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By

from tests.support.console import ConsoleStack, chromium, screenshot, sign_in, wait_for


def test_an_operator_signs_in_sees_the_console_and_logs_out(
    tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack, chromium() as browser:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        browser.get(f"{stack.url}/console/calls")
        assert "/console/login" in browser.current_url  # not signed in: the form first
        screenshot(browser, "login")
        sign_in(browser, stack, "op", "s3cret")
        assert browser.find_element(By.CSS_SELECTOR, ".who:not(.zone)").text == "op (operator)"
        browser.find_element(By.CSS_SELECTOR, "form.logout button").click()
        wait_for(lambda: "/console/login" in browser.current_url, 10, "the login form")
        browser.get(f"{stack.url}/console/")
        assert "/console/login" in browser.current_url  # the session is gone


def test_a_wrong_password_is_refused_with_the_form_again(tmp_path: Path, sqlite_url: str) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack, chromium() as browser:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="s3cret\n")
        browser.get(f"{stack.url}/console/login")
        browser.find_element(By.NAME, "login").send_keys("op")
        browser.find_element(By.NAME, "password").send_keys("wrong")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        error = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".flash.error"), 10, "error")
        assert error.text == "Wrong login or password."
