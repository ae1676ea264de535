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
    ("session", "show"): "calls: covered by /console/calls/{id} (the calls pages)",
    ("session", "list"): "calls: covered by /console/calls (the calls pages)",
    ("session", "release"): "calls: covered by the calls pages",
    ("session", "recording"): "writes a file; its console twin is the recording player on "
    "/console/calls/{id} (the calls pages)",
}

ROUTES: list[BaseRoute] = [
    *manage_accounts.ROUTES,
    *manage_owned.ROUTES,
    *manage_media.ROUTES,
    *manage_webhooks.ROUTES,
    *manage_ops.ROUTES,
]
