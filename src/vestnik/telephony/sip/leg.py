"""``SipLeg``: the sippy side of one outgoing call. All its methods run on the sippy thread.

It builds the INVITE to one trunk (addressing, digest credentials, From and its domain,
P-Asserted-Identity when the trunk wants it, Contact, Via, the SDP offer), answers re-INVITEs,
hangs up,
and turns sippy's events into signals for the asyncio side (``call.SipCall``), posted as
tuples: ``("provisional", code, phrase)``, ``("answered", code, phrase, sdp, monotonic time)``,
``("failed", code, phrase, from_network, sent_credentials)`` and ``("bye",)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventRedirect,
    CCEventRing,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody
from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipContact import SipContact
from sippy.SipFrom import SipFrom
from sippy.SipHeader import SipHeader
from sippy.SipPAssertedIdentity import SipPAssertedIdentity
from sippy.SipTo import SipTo
from sippy.SipURL import SipURL

from vestnik.config import Config, TrunkConfig
from vestnik.telephony.rtp import sdp
from vestnik.telephony.sip.addressing import Target, trunk_domain
from vestnik.telephony.sip.endpoint import USER_AGENT, SipEndpoint
from vestnik.telephony.sip.fixes import InviteTrigger, TrunkUA, sippy_to_monotonic
from vestnik.telephony.sip.loop import SippyLoop

log = logging.getLogger(__name__)

# Hands a signal to the asyncio side; callable from the sippy thread.
Post = Callable[[tuple[Any, ...]], None]


class SipLeg:
    """The sippy side of one INVITE (one trunk of a call's route)."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        config: Config,
        trunk: TrunkConfig,
        target: Target,
        caller: str,
        call_id: str,
        offer: str,
        media: tuple[str, int],
        post: Post,
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.trunk = trunk
        self.target = target
        self.caller = caller
        self.call_id = call_id
        self.offer = offer
        self.media = media  # our RTP address, as offered
        self.post = post
        self.codec: str | None = None  # set by SipCall once the answer is negotiated
        self.ua: TrunkUA | None = None

    def start(self) -> None:
        try:
            ua = self._new_ua()
            self.ua = ua
            body = MsgBody(self.offer)
            trigger = InviteTrigger(
                (SipCallId(self.call_id), self.caller, self.target.user, body, None, None),
                self._address,
            )
            if self.trunk.caller_id == "pai":
                trigger.extra_headers = (self._asserted_identity(),)
            ua.recvEvent(trigger)
        except Exception as exc:  # resolve the call whatever sippy did
            log.exception("could not send INVITE")
            self.post(("failed", None, f"INVITE not sent: {exc}", False, False))

    def _new_ua(self) -> TrunkUA:
        trunk = self.trunk
        ua = TrunkUA(
            self.endpoint.global_config,
            event_cb=self._on_event,
            username=trunk.username or None,
            password=trunk.password if trunk.username else None,
            nh_address=self.target.next_hop,
            dead_cbs=(self._on_dead,),
        )
        ua.local_ua = USER_AGENT
        if trunk.outbound_proxy:
            ua.outbound_proxy = self.target.next_hop
        endpoint = self.endpoint
        ua.lContact = SipContact(
            address=SipAddress(
                url=SipURL(username=self.caller, host=endpoint.contact_host, port=endpoint.port)
            )
        )
        if endpoint.contact_host != endpoint.bind_host:
            ua.via_host, ua.via_port = endpoint.contact_host, endpoint.port
        return ua

    def _address(self, ua: Any) -> None:
        target = self.target
        ua.rTarget = SipURL(username=target.user, host=target.host, port=target.port)
        ua.rUri = SipTo(
            address=SipAddress(url=SipURL(username=target.user, host=target.to_host), hadbrace=True)
        )
        from_url = SipURL(username=self.caller, host=trunk_domain(self.trunk))
        ua.lUri = SipFrom(address=SipAddress(url=from_url, hadbrace=True))
        ua.lUri.setTag(ua.lTag)

    def _asserted_identity(self) -> SipHeader:
        """``P-Asserted-Identity: <sip:CALLER@from_domain>`` (caller as ``caller_format``)."""
        url = SipURL(username=self.caller, host=trunk_domain(self.trunk))
        body = SipPAssertedIdentity(address=SipAddress(url=url, hadbrace=True))
        return SipHeader(name="p-asserted-identity", body=body)

    def hangup(self) -> None:
        """CANCEL before the answer, BYE after. Sent as an event to the UA: ``ua.disconnect()``
        would also echo a Disconnect into our own callback."""
        ua = self.ua
        if ua is not None and not ua.isDead():
            ua.recvEvent(CCEventDisconnect(origin="caller"))

    def _on_event(self, event: Any, ua: Any) -> None:
        data: Any = event.getData() or ()
        if isinstance(event, CCEventRing):
            self.post(("provisional", data[0], data[1]))
        elif isinstance(event, CCEventConnect):
            body = data[2] if len(data) > 2 else None
            self.post(("answered", data[0], data[1], "" if body is None else str(body),
                       sippy_to_monotonic(event.rtime.monot)))  # fmt: skip
        elif isinstance(event, CCEventFail | CCEventRedirect):
            local = bool(getattr(ua, "local_timeout", False))
            credentials = bool(getattr(ua, "sent_credentials", False))
            self.post(("failed", data[0], data[1], not local, credentials))
        elif isinstance(event, CCEventDisconnect):
            self.post(("bye",))
        elif isinstance(event, CCEventUpdate):
            SippyLoop.instance().call(self._answer_update, event.getData())

    def _answer_update(self, body: Any) -> None:
        """A re-INVITE from the far end (session refresh, hold): answer with our media as
        negotiated. Our RTP keeps going where it goes; the call's outcome does not change."""
        ua = self.ua
        if ua is None or ua.isDead():
            return
        try:
            preference = [self.codec] if self.codec else self.trunk.codecs
            offer = sdp.parse(str(body)) if body is not None else None
            answer = self.offer
            if offer is not None:
                answer, _ = sdp.build_answer(offer, *self.media, preference)
        except sdp.SdpError as exc:
            log.info("re-INVITE refused: %s", exc)
            ua.recvEvent(CCEventFail((488, "Not Acceptable Here")))
            return
        ua.recvEvent(CCEventConnect((200, "OK", MsgBody(answer))))

    def _on_dead(self, ua: Any) -> None:
        self.ua = None
