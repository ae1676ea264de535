"""Pages from Jinja2 templates (autoescaped), with what every page shows: the viewer, the
navigation, the CSRF token for its forms, times and raw values beside their labels."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES))


_zone: list[tzinfo] = [UTC]


def set_zone(name: str) -> None:
    """The zone times are shown in (``[console] timezone``, checked at load)."""
    _zone[0] = ZoneInfo(name)


def zone_name() -> str:
    return str(_zone[0])


def when(value: float | None) -> str:
    """A stored UNIX time as the console shows it: ``2026-12-07 14:05:03`` in the console's
    zone (its name is in the page header)."""
    if value is None:
        return "—"
    return datetime.fromtimestamp(float(value), _zone[0]).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["when"] = when
templates.env.globals["zone_name"] = zone_name


def nav(viewer: Any) -> list[tuple[str, str]]:
    """The header's links (path below the console, label); an account user's are their own."""
    items = [("/", "Overview"), ("/calls", "Calls")]
    if viewer is None:
        return []
    if viewer.is_operator:
        items += [("/accounts", "Accounts"), ("/trunks", "Trunks"), ("/operators", "Operators")]
    else:
        items += [(f"/accounts/{viewer.account_id}", "Account")]
    return items


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    viewer = request.scope.get("vestnik.viewer")
    base = {
        "request": request,
        "root": request.scope.get("root_path", ""),
        "viewer": viewer,
        "csrf_token": viewer.csrf_token if viewer is not None else "",
        "nav": nav(viewer),
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, template, {**base, **context})
    response.status_code = status
    return response


def fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A part of a page (the live table's body) for the script that refreshes it."""
    return render(request, template, **context)
