"""Which trunks a session's call may use: ``calls.routing`` with the account's name.

A trunk's ``accounts`` names accounts, a session knows its account's id: the names are read
once and cached for ``NAME_TTL_SECONDS`` (accounts are rarely renamed; a rename reaches the
routing within that time). Nothing is read while no trunk filters by account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from vestnik.calls.routing import needs_account_name, no_route_detail, route_for
from vestnik.calls.session import CallSession
from vestnik.config import TrunkConfig
from vestnik.dialer.database import DialerDatabase
from vestnik.store import accounts

NAME_TTL_SECONDS = 60.0


class Router:
    def __init__(
        self, trunks: Sequence[TrunkConfig], db: DialerDatabase, ttl: float = NAME_TTL_SECONDS
    ) -> None:
        self.trunks = list(trunks)
        self._db = db
        self._ttl = ttl
        self._by_name = needs_account_name(self.trunks)
        self._names: dict[int, tuple[str | None, float]] = {}

    async def account_name(self, account_id: int) -> str | None:
        now = asyncio.get_running_loop().time()
        cached = self._names.get(account_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        name = await self._db.run(accounts.account_name, account_id)
        self._names[account_id] = (name, now + self._ttl)
        return name

    async def route(self, session: CallSession) -> tuple[tuple[str, ...], str | None]:
        """The trunks to try in order, and, when none matches, the ``finish_detail`` saying
        why. No trunk configured at all: an empty route and no refusal (the telephony
        decides, as with one built-in peer such as the demo's test phone)."""
        if not self.trunks:
            return (), None
        name = await self.account_name(session.account_id) if self._by_name else None
        kind = session.contact_kind
        route = route_for(self.trunks, name, session.contact, kind)
        if route:
            return route, None
        return (), no_route_detail(self.trunks, name, session.contact, kind)
