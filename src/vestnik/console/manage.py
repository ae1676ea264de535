"""The pages that manage accounts and what they own, the trunks and the operators, through the
admin commands (``manage_*`` modules), and which admin command has which console twin.

Every ``vestnik admin`` command is either run by a console form (``CONSOLE_ACTIONS``), shown by
a console page (``CONSOLE_VIEWS``), or in ``EXCLUDED`` with the reason (the coverage test
walks the admin parser and holds the console to this).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from vestnik.console import manage_accounts, manage_media, manage_ops, manage_owned, manage_webhooks
from vestnik.console.manage_common import CONSOLE_ACTIONS, CONSOLE_VIEWS

__all__ = ["CONSOLE_ACTIONS", "CONSOLE_VIEWS", "EXCLUDED", "ROUTES"]

# Admin commands with no form on these pages, and why.
EXCLUDED: dict[tuple[str, str], str] = {
    ("db", "migrate"): "the service migrates the database when it starts",
    ("numbering-plan", "import"): "a file-based operator task (the national registry CSV), "
    "run where the file is",
    ("webhook", "prune"): "housekeeping of old delivered deliveries, for a scheduled job",
}

# The calls pages' twins (vestnik.console.calls*): the list, a call, its release and player.
CONSOLE_VIEWS.update({
    ("session", "list"): "/calls",
    ("session", "show"): "/calls/{id}",
    ("session", "recording"): "/calls/{id} (the recording player)",
})  # fmt: skip
CONSOLE_ACTIONS[("session", "release")] = "/calls/{id}/release"

ROUTES: list[BaseRoute] = [
    *manage_accounts.ROUTES,
    *manage_owned.ROUTES,
    *manage_media.ROUTES,
    *manage_webhooks.ROUTES,
    *manage_ops.ROUTES,
]
