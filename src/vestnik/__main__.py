"""``python -m vestnik`` is the ``vestnik`` command."""

from vestnik.cli.main import main

raise SystemExit(main())
