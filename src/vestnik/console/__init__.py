"""The operator console at ``/console/``: server-rendered pages over the same store and admin
commands as the command line (docs/console.md).

``console_routes(config, engine)`` is the whole public surface: the service mounts it.
"""

from vestnik.console.app import console_routes

__all__ = ["console_routes"]
