"""Who is calling: access token → account, then the account's gates (active, IP, components)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from vestnik.api.client import ip_address
from vestnik.api.errors import ApiError
from vestnik.api.limits import AccountLimits
from vestnik.auth import TokenKind, hash_token
from vestnik.store.db import Connection
from vestnik.store.tokens import TokenRecord, find_token


class Component(Enum):
    """Vendor components: (display name, accounts column that switches it on)."""

    INFORMER_CALL = ("Call API Информационный вызов", "informer_call_enabled")
    NUMBER_MANAGEMENT = ("Автоматическое управление номерами", "number_management_enabled")

    @property
    def display_name(self) -> str:
        return self.value[0]

    @property
    def column(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the token used and its account's row."""

    token_id: int | None
    token_kind: TokenKind | None
    user_id: int | None
    account: dict[str, Any]

    @property
    def account_id(self) -> int:
        return int(self.account["id"])

    @property
    def limits(self) -> AccountLimits:
        a = self.account
        return AccountLimits(self.account_id, int(a["minute_limit"]), int(a["day_limit"]))


_TOKEN_KINDS = {kind.value: kind for kind in TokenKind}


def authenticate(conn: Connection, token: str, at: float) -> Principal:
    """The principal for ``token`` or an auth error.

    A 1-hour session token past its expiry is *invalid* (it no longer exists for the client);
    a permanent key past its end date is *expired*; a blocked key is *blocked*.
    """
    if not token:
        raise ApiError("access_token_invalid", field="access_token", value=token)
    return principal_of(find_token(conn, hash_token(token)), token, at)


def principal_of(record: TokenRecord | None, token: str, at: float) -> Principal:
    """The principal of ``token`` as stored (``record``; None: no such token) at ``at``, or
    the auth error of :func:`authenticate`."""
    if record is None or record.user_active is False:
        raise ApiError("access_token_invalid", field="access_token", value=token)
    kind = _TOKEN_KINDS[record.kind]
    expired = record.expires_at is not None and record.expires_at <= at
    if kind is TokenKind.SESSION and expired:
        raise ApiError("access_token_invalid", field="access_token", value=token)
    if record.is_blocked:
        raise ApiError("access_token_blocked", field="access_token", value=token)
    if expired:
        raise ApiError("access_token_expired", field="access_token", value=token)
    return Principal(record.token_id, kind, record.user_id, record.account)


@lru_cache(maxsize=1024)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    nets = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue  # a malformed entry admits nobody
    return tuple(nets)


def ip_allowed(allowlist: Sequence[str], client_ip: str | None) -> bool:
    """Whether ``client_ip`` is inside one of the CIDRs. No address (a UNIX socket) is local."""
    if client_ip is None:
        return True
    return _ip_allowed(tuple(str(cidr) for cidr in allowlist or ()), client_ip)


@lru_cache(maxsize=4096)
def _ip_allowed(allowlist: tuple[str, ...], client_ip: str) -> bool:
    address = ip_address(client_ip)
    if address is None:
        return False
    return any(address in net for net in _networks(allowlist))


def check_account(principal: Principal, client_ip: str | None) -> None:
    """Account gates in order: active, then the IP allow-list."""
    account = principal.account
    if not account["is_active"]:
        raise ApiError("account_inactive")
    if not ip_allowed(account["ip_allowlist"] or [], client_ip):
        raise ApiError("ip_not_whitelisted", params={"ip": client_ip})


def check_component(principal: Principal, component: Component) -> None:
    if not principal.account[component.column]:
        raise component_disabled(component)


def component_disabled(component: Component) -> ApiError:
    return ApiError("component_disabled", params={"component_name": component.display_name})
