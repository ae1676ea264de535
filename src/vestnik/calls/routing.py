"""Which trunks may carry a session's call, and in what order (docs/telephony.md, "Trunks").

A trunk matches a session when its ``accounts`` is empty or names the session's account, and
its ``prefixes`` is empty or one of them starts the contact's digits; a SIP-URI contact (an
employee, not a number) matches only trunks without ``prefixes``. ``accounts`` and
``prefixes`` only filter; the matching trunks are tried in ``priority`` order, lowest first,
trunks of equal priority in configuration order. Pure functions: the dialer asks, the
telephony tries the route it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

from vestnik.calls.model import ContactKind
from vestnik.config import TrunkConfig

# ``finish_detail`` of a session that no configured trunk routes.
NO_ROUTE_DETAIL = "no trunk routes this call"


def trunk_matches(
    trunk: TrunkConfig, account_name: str | None, contact: str, kind: ContactKind
) -> bool:
    """Does ``trunk`` take calls of this account to this contact?"""
    if trunk.accounts and account_name not in trunk.accounts:
        return False
    if not trunk.prefixes:
        return True
    if kind is not ContactKind.PHONE:
        return False  # a SIP URI has no digits to match a prefix
    return any(contact.startswith(prefix) for prefix in trunk.prefixes)


def by_priority(trunks: Sequence[TrunkConfig]) -> list[TrunkConfig]:
    """``trunks`` lowest ``priority`` first; equal priorities keep their order (stable)."""
    return sorted(trunks, key=lambda t: t.priority)


def route_for(
    trunks: Sequence[TrunkConfig], account_name: str | None, contact: str, kind: ContactKind
) -> tuple[str, ...]:
    """The names of the trunks to try, in order; empty when none matches."""
    matching = [t for t in trunks if trunk_matches(t, account_name, contact, kind)]
    return tuple(t.name for t in by_priority(matching))


def needs_account_name(trunks: Sequence[TrunkConfig]) -> bool:
    """Whether any trunk filters by account (else the account's name need not be looked up)."""
    return any(t.accounts for t in trunks)


def no_route_detail(
    trunks: Sequence[TrunkConfig], account_name: str | None, contact: str, kind: ContactKind
) -> str:
    """Why no trunk matched, per trunk, in words for the operator."""
    if not trunks:
        return f"{NO_ROUTE_DETAIL}: no trunk is configured"
    reasons = []
    for trunk in trunks:
        if trunk.accounts and account_name not in trunk.accounts:
            reasons.append(f"{trunk.name}: account {account_name!r} not in its accounts")
        elif kind is not ContactKind.PHONE:
            reasons.append(f"{trunk.name}: has prefixes, the contact is a SIP URI")
        else:
            reasons.append(f"{trunk.name}: no prefix of {contact}")
    return f"{NO_ROUTE_DETAIL} ({'; '.join(reasons)})"
