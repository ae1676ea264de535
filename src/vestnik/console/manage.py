"""The pages that manage accounts and what they own, through the admin commands."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
