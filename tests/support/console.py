"""The console's test stack: ``vestnik serve`` (a child process) with a SIPp trunk, the admin
command line against the same database, the Call API, and Debian's chromium driven headless
by Selenium through Debian's chromedriver (never a downloaded browser).

    with ConsoleStack(tmp_path, db_url) as stack, chromium() as browser:
        stack.admin("operator", "create", "op", "--password-stdin", stdin="secret")
        sign_in(browser, stack, "op", "secret")
        screenshot(browser, "calls")   # build/screenshots/calls.png, or $VESTNIK_SCREENSHOTS
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.serve import ServeProcess, serve_env
from tests.support.sessions import VPN
from tests.support.sipp import SippUas

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = "VESTNIK_SCREENSHOTS"
REPO = Path(__file__).resolve().parents[2]


class ConsoleStack:
    """A running service with the console, its trunk, and helpers to provision and call."""

    def __init__(self, tmp_path: Path, db_url: str, **env: str) -> None:
        self.tmp_path = tmp_path
        self.sipp = SippUas.trunk(tmp_path / "trunk")
        self.http_port = free_port()
        self.env = serve_env(tmp_path, db_url, self.sipp, self.http_port, free_port(), **env)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.serve: ServeProcess | None = None

    def __enter__(self) -> Self:
        try:
            self.sipp.start()
            self.admin("db", "migrate")
            self.serve = ServeProcess(self.env, self.tmp_path / "serve.log", self.http_port)
            self.serve.wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.serve is not None:
            self.serve.cleanup()
        self.sipp.stop()

    def admin(self, *argv: str, stdin: str | None = None, check: bool = True) -> Any:
        """``vestnik admin ARGV --json`` against the service's database: its JSON output."""
        vestnik = shutil.which("vestnik", path=str(Path(sys.executable).parent))
        command = [vestnik] if vestnik else [sys.executable, "-m", "vestnik.cli.main"]
        done = subprocess.run(
            [*command, "admin", *argv, *([] if argv[:2] == ("db", "migrate") else ["--json"])],
            env=self.env, input=stdin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"vestnik admin {' '.join(argv)}: {done.stderr or done.stdout}")
        try:
            return json.loads(done.stdout) if done.stdout.strip() else None
        except json.JSONDecodeError:
            return done.stdout

    def account(self, name: str = "acme") -> str:
        """A new account with the test caller number and a key; returns the key."""
        self.admin("account", "create", name)
        self.admin("number", "add", name, VPN)
        key = self.admin("key", "create", name)
        return str(key["access_token"])

    def call(self, token: str, contact: str, text: str = "Тестовое сообщение", **extra: Any) -> int:
        """``start.informer_call`` over HTTP; returns the call_session_id."""
        params: dict[str, Any] = {
            "access_token": token, "virtual_phone_number": VPN, "contact": contact,
            "contact_message": {"type": "tts", "value": text}, **extra,
        }  # fmt: skip
        body = {"jsonrpc": "2.0", "id": 1, "method": "start.informer_call", "params": params}
        reply = httpx.post(f"{self.url}/v4.0", json=body, timeout=15).json()
        assert "result" in reply, reply
        return int(reply["result"]["data"]["call_session_id"])

    def session(self, session_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self.admin("session", "show", str(session_id))
        return data


def _browser_binaries() -> None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} is not installed (Debian package {package})")


@contextmanager
def chromium(width: int = 1360, height: int = 900) -> Iterator[Any]:
    """Debian's chromium, headless, through Debian's chromedriver (Selenium)."""
    _browser_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--lang=en-US",
                     "--autoplay-policy=no-user-gesture-required"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(browser: Any, stack: ConsoleStack, login: str, password: str) -> None:
    """Fill and send the login form; fails unless the console is shown afterwards."""
    from selenium.webdriver.common.by import By

    browser.get(f"{stack.url}/console/login")
    browser.find_element(By.NAME, "login").send_keys(login)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(lambda: "/console/login" not in browser.current_url, 10, "the console after login")


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # a stale element while the page refreshes
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last})")


def screenshot(browser: Any, name: str) -> Path:
    """Save the page as ``<name>.png`` in ``$VESTNIK_SCREENSHOTS``, else ``build/screenshots/``
    (``VESTNIK_SCREENSHOTS=docs/console`` refreshes the ones docs/console.md shows)."""
    folder = Path(os.environ.get(SCREENSHOTS) or REPO / "build" / "screenshots")
    path = folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(path))
    return path


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_in(page: str) -> str:
    """The ``csrf_token`` of the first form on ``page``."""
    found = CSRF_FIELD.search(page)
    assert found is not None, "no csrf_token on the page"
    return found.group(1)


def http_sign_in(stack: ConsoleStack, login: str, password: str) -> tuple[httpx.Client, str]:
    """An HTTP client signed in through the login form, and its session's CSRF token."""
    client = httpx.Client(base_url=f"{stack.url}/console", timeout=30)
    fields = {"csrf_token": csrf_in(client.get("/login").text), "login": login,
              "password": password}  # fmt: skip
    answer = client.post("/login", data=fields)
    assert answer.status_code == 303, answer.text
    page = client.get("/")
    assert page.status_code == 200, page.text
    return client, csrf_in(page.text)
