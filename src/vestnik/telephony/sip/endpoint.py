"""One bound SIP UDP socket with sippy's transaction layer on it.

Everything here runs on the sippy thread (``SippyLoop``); ``SipEndpoint.open``/``close`` hop
there themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vestnik.telephony.sip.fixes import TransactionManager
from vestnik.telephony.sip.loop import SippyLoop

siplog = logging.getLogger("vestnik.sip.messages")

USER_AGENT = "vestnik"


class SipLogger:
    """sippy's logger interface, forwarding whole SIP messages to ``vestnik.sip.messages``
    at DEBUG (formatting is skipped unless that logger is enabled: it costs CPU at load)."""

    def write(self, *args: Any, **kwargs: Any) -> None:
        if siplog.isEnabledFor(logging.DEBUG):
            siplog.debug("%s", "".join(str(a) for a in args))


# sippy's new-request callback: (request, transaction) -> (response, ...) for out-of-dialog
# requests that match no UA of the endpoint.
RequestHandler = Callable[[Any, Any], Any]


def decline_stray_request(req: Any, sip_t: Any) -> Any:
    """Requests that match no call of ours (vestnik only places calls)."""
    method = req.getMethod()
    if method == "OPTIONS":  # trunk keep-alive probes
        return (req.genResponse(200, "OK"), None, None)
    if req.getHFBody("to").getTag() is not None:
        return (req.genResponse(481, "Call/Transaction Does Not Exist"), None, None)
    if method == "INVITE":
        return (req.genResponse(603, "Decline"), None, None)
    return (req.genResponse(405, "Method Not Allowed"), None, None)


class SipEndpoint:
    """A SIP transaction manager bound to ``host:port`` (port 0: the kernel picks one).

    ``on_request`` answers out-of-dialog requests (new INVITEs, OPTIONS); the default declines
    calls, since vestnik only places them. It runs on the sippy thread.
    """

    def __init__(
        self,
        bind_host: str,
        port: int,
        loop: SippyLoop | None = None,
        on_request: RequestHandler = decline_stray_request,
        advertised_host: str = "",
    ) -> None:
        self.loop = loop or SippyLoop.instance()
        self.on_request = on_request
        self.bind_host = bind_host
        # The address peers reach us at (Contact, Via): ``[sip] advertised_host``, else bound.
        self.contact_host = advertised_host or bind_host
        self.requested_port = port
        self.port = 0
        self.global_config: dict[str, Any] = {}
        self._tm: TransactionManager | None = None

    def open(self) -> int:
        """Bind and start the transaction layer; returns the bound port."""
        if self.bind_host in ("0.0.0.0", "::", ""):
            raise ValueError(
                "sip.bind_host must be a concrete address (the one peers reach us at), "
                "not a wildcard"
            )
        self.port = self.loop.call_sync(self._open, self.requested_port)
        return self.port

    def _open(self, port: int) -> int:
        config: dict[str, Any] = {
            "_sip_address": self.bind_host,
            "_sip_port": port,
            "_sip_logger": SipLogger(),
        }
        tm = TransactionManager(config, self.on_request)
        config["_sip_tm"] = tm
        self.global_config = config
        self._tm = tm
        server = tm.l4r.getServer((self.bind_host, port), is_local=True)
        return int(server.uopts.laddress[1])

    def send_request(self, request: Any, on_reply: Callable[..., None], **options: Any) -> Any:
        """Send an out-of-dialog request from this socket (sippy thread); its client
        transaction. Via names ``contact_host`` when it is not the bound address."""
        if self._tm is None:
            raise RuntimeError("the SIP endpoint is not open")
        if self.contact_host != self.bind_host:
            via = request.getHFBody("via")
            via.hostname, via.port = self.contact_host, self.port
        laddress = (self.bind_host, self.port)
        return self._tm.newTransaction(request, on_reply, laddress=laddress, **options)

    def forget(self, transaction: Any) -> None:
        """Drop a client transaction (sippy thread): no more retransmissions, timers or
        callback."""
        for name in ("teA", "teB", "teC"):
            timer = getattr(transaction, name, None)
            if timer is not None:
                timer.cancel()
                setattr(transaction, name, None)
        transaction.resp_cb = None
        if self._tm is not None:
            self._tm.tclient.pop(transaction.tid, None)

    def close(self) -> None:
        if self._tm is not None:
            self.loop.call_sync(self._close)

    def _close(self) -> None:
        # shutdown() keeps the consumer tables (see ``fixes.TransactionManager``): a UA that ended
        # unregisters from them 32 s later (sippy's godead timer), possibly after this.
        if self._tm is not None:
            self._tm.shutdown()
            self._tm = None
