"""``vestnik admin …``: accounts, users, keys, numbers, employees, blacklist, media, sessions,
trunks, operators.

One module per group of objects; each registers its objects' parsers with ``register``.
Every command validates all of its input before it opens a transaction, so a refused command
changes nothing. Output is text by default and JSON with ``--json`` (see docs/admin.md).
What removal keeps and deletes is decided in the store (``store.accounts``, ``store.media``).
"""

from __future__ import annotations

from vestnik.cli.admin import (
    accounts,
    blacklist,
    db,
    media,
    numbers,
    operators,
    sessions,
    trunks,
    users,
)
from vestnik.cli.common import SubParsers

# In ``vestnik admin --help`` order.
_OBJECT_MODULES = (accounts, users, numbers, blacklist, media, sessions, trunks, operators, db)


def register_admin(objects: SubParsers) -> None:
    for module in _OBJECT_MODULES:
        module.register(objects)
