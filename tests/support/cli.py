"""What a ``vestnik`` command run in-process gave: its exit status and output (``Run``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Run:
    status: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


CliRunner = Callable[..., Run]
