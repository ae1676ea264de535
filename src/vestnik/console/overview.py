"""The overview page (``/console/``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vestnik.console.context import viewer_of
from vestnik.console.render import render


async def overview(request: Request) -> Response:
    viewer_of(request)
    return render(request, "overview.html")


ROUTES = [Route("/", overview, name="overview")]
