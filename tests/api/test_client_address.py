"""Who the client is: the TCP peer, unless a configured trusted proxy forwarded the request.

The rule (``vestnik.api.client.client_address``) is checked directly for the header forms
proxies write, and over real HTTP on every surface (Call API, Data API, upload), where it
decides the account's IP allow-list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import seed_account, serve, wav_bytes
from vestnik.api.client import client_address, trusted_networks
from vestnik.api.dataapi import DATA_API_PATH, dataapi_routes
from vestnik.api.upload import UPLOAD_PATH, upload_routes
from vestnik.config import Config
from vestnik.media.audiofile import MediaImporter
from vestnik.store import create_db_engine
from vestnik.store.accounts import update_account

OFFICE = "203.0.113.0/24"  # the account's allow-list in the HTTP tests: not loopback
FORGED = "203.0.113.5"


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    return {"client": (peer, 50000) if peer else None, "headers": headers}


def address(peer: str | None, *forwarded: str, trusted: tuple[str, ...] = ()) -> str | None:
    return client_address(scope(peer, *forwarded), trusted_networks(trusted))


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert address("127.0.0.1", FORGED) == "127.0.0.1"
    assert address("10.0.0.2", "198.51.100.1, 10.0.0.1") == "10.0.0.2"
    assert address(None, FORGED) is None  # a UNIX socket: no address


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert address("192.0.2.9", FORGED, trusted=("10.0.0.0/8",)) == "192.0.2.9"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ((FORGED,), FORGED),
        # Right-most first: what the trusted proxy saw; left entries are the sender's word.
        (("198.51.100.7, " + FORGED,), FORGED),
        # Trusted hops are skipped: the right-most untrusted address is the client.
        ((f"{FORGED}, 10.1.1.1 , 10.2.2.2",), FORGED),
        # Several headers are one list, in order.
        (("198.51.100.7", f"{FORGED}, 10.1.1.1"), FORGED),
        (("198.51.100.7, " + FORGED, "10.1.1.1"), FORGED),
        # Ports and IPv6, as proxies write them; an IPv4-mapped address is IPv4.
        (("203.0.113.5:4711",), FORGED),
        (("[2001:db8::7]:443",), "2001:db8::7"),
        (("2001:db8::7",), "2001:db8::7"),
        (("::ffff:203.0.113.5",), FORGED),
        # Empty list elements are skipped.
        ((f",{FORGED},, ",), FORGED),
        # Nothing but trusted proxies: the left-most of them.
        (("10.9.9.9, 10.1.1.1",), "10.9.9.9"),
        # Garbage ends the walk: the last good candidate, else the peer.
        (("unknown",), "10.0.0.1"),
        ((f"{FORGED}, unknown",), "10.0.0.1"),
        ((f"{FORGED}, garbage, 10.1.1.1",), "10.1.1.1"),
        (("203.0.113.5:http",), "10.0.0.1"),
        (("[2001:db8::7",), "10.0.0.1"),
        (("[2001:db8::7]x",), "10.0.0.1"),
        (("203.0.113.5:1:2",), "10.0.0.1"),
        (("999.1.1.1",), "10.0.0.1"),
        (("",), "10.0.0.1"),
        ((), "10.0.0.1"),
    ],
)
def test_a_trusted_peer_forwards_the_client(forwarded: tuple[str, ...], client: str) -> None:
    assert address("10.0.0.1", *forwarded, trusted=("10.0.0.0/8",)) == client


def test_a_trusted_ipv6_or_mapped_peer() -> None:
    assert address("::1", FORGED, trusted=("::1/128",)) == FORGED
    assert address("::ffff:10.0.0.1", FORGED, trusted=("10.0.0.0/8",)) == FORGED


# --- over HTTP, every surface -------------------------------------------------------------


@contextmanager
def surfaces(tmp_path: Path, url: str, trusted: list[str]) -> Iterator[tuple[httpx.Client, str]]:
    """Call API, Data API and upload on one server; a token of an account that admits
    OFFICE only."""
    config = Config(data_dir=str(tmp_path / "data"))
    config.server.trusted_proxies = trusted
    engine = create_db_engine(url)
    account_id, token = seed_account(engine)
    with engine.begin() as conn:
        update_account(conn, account_id, ip_allowlist=[OFFICE])
    routes = [
        *dataapi_routes(config, engine),
        *upload_routes(config, engine, MediaImporter(config)),
    ]
    with serve(engine, config, routes) as (_url, http):
        yield http, token
    engine.dispose()


def rpc(http: httpx.Client, path: str, method: str, token: str, forwarded: str) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"access_token": token}}
    return http.post(path, json=body, headers={"X-Forwarded-For": forwarded}).json()


def upload(http: httpx.Client, token: str, forwarded: str) -> httpx.Response:
    return http.post(
        UPLOAD_PATH,
        data={"access_token": token},
        files={"file": ("hello.wav", wav_bytes(0.5), "audio/wav")},
        headers={"X-Forwarded-For": forwarded},
    )


def refused_ip(reply: Any) -> str:
    error = reply["error"]
    assert error["data"]["mnemonic"] == "ip_not_whitelisted", reply
    return str(error["data"]["params"]["ip"])


def test_a_forged_header_from_loopback_is_ignored_by_default(
    tmp_path: Path, sqlite_url: str
) -> None:
    with surfaces(tmp_path, sqlite_url, trusted=[]) as (http, token):
        assert refused_ip(rpc(http, "/v4.0", "list.calls", token, FORGED)) == "127.0.0.1"
        reply = rpc(http, DATA_API_PATH, "get.virtual_numbers", token, FORGED)
        assert refused_ip(reply) == "127.0.0.1"
        response = upload(http, token, FORGED)
        assert response.status_code == 403
        assert refused_ip(response.json()) == "127.0.0.1"


def test_a_trusted_proxy_names_the_client(tmp_path: Path, sqlite_url: str) -> None:
    with surfaces(tmp_path, sqlite_url, trusted=["127.0.0.0/8"]) as (http, token):
        assert "result" in rpc(http, "/v4.0", "list.calls", token, FORGED)
        assert "result" in rpc(http, DATA_API_PATH, "get.virtual_numbers", token, FORGED)
        assert upload(http, token, FORGED).status_code == 200
        # The forwarded address is the one the allow-list judges (and reports).
        outsider = "198.51.100.7"
        assert refused_ip(rpc(http, "/v4.0", "list.calls", token, outsider)) == outsider
        assert refused_ip(upload(http, token, outsider).json()) == outsider
