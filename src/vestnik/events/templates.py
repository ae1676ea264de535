"""Webhook body templates: ``{{variable}}`` placeholders over a notification's variables."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from vestnik.calls.events import TEMPLATE_VARIABLES

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(ValueError):
    """A body template names a variable notifications do not have."""


def check_template(template: str) -> None:
    """Refuse a template with unknown ``{{variable}}`` names (at configuration time)."""
    unknown = sorted(
        {m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(TEMPLATE_VARIABLES)
    )
    if unknown:
        raise TemplateError(
            f"unknown template variable(s): {', '.join(unknown)}; "
            f"known: {', '.join(TEMPLATE_VARIABLES)}"
        )


def render_template(template: str, variables: Mapping[str, Any]) -> str:
    """Substitute ``{{name}}`` placeholders, as the vendor's notification service does.

    Values go in as text, JSON-string-escaped (quotes and backslashes escaped, no surrounding
    quotes), so a JSON template such as ``{"id": "{{call_session_id}}"}`` stays valid JSON
    whatever the value; ``null`` values become the empty string.
    """

    def value(match: re.Match[str]) -> str:
        raw = variables.get(match.group(1))
        if raw is None:
            return ""
        text = raw if isinstance(raw, str) else json.dumps(raw)
        return json.dumps(text, ensure_ascii=False)[1:-1]

    return _PLACEHOLDER.sub(value, template)
