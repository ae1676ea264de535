"""Kamailio as a carrier that wants its callers registered (Debian package ``kamailio``).

REGISTER is challenged (401, or 407 with ``challenge="proxy"``; qop=auth) against a fixed
password and saved in memory (usrloc); an INVITE is accepted only from a contact registered for
``aor`` (its source address must be one of the account's contacts, so several dialer processes
each need their own registration) and relayed to ``target``, others get ``403 Not registered``.
``max_expires`` caps the time granted (Kamailio answers with the shorter time), which makes
refreshes come quickly without changing what vestnik asks for.

Every REGISTER is logged (``registers()``), and ``contacts()`` asks the running Kamailio for
the bindings with ``kamcmd ul.dump``.

With ``tls`` (a certificate from tests/support/certs.py; Debian ``kamailio-tls-modules``) it
listens on TLS and TCP too (``stream_address("tls")``, ``stream_address("tcp")``): a binding
made over TCP/TLS keeps the address it came from as its ``received`` (``fix_nated_register``,
as carriers do for clients behind NAT), and an INVITE over TCP/TLS is taken when it comes from
that address (in practice: over the connection the REGISTER came over).

    with KamailioRegistrar(sipp.address, "vestnik", "s3cret", domain="vestnik.test") as reg:
        ...  # trunk host/port = reg.address, username vestnik, register = true
        reg.contacts()  # ["sip:vestnik@127.0.0.1:40123"]
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.certs import Issued
from tests.support.peers import sip_options_ok
from tests.support.processes import (
    LOOPBACK,
    Peer,
    PeerProcess,
    free_port,
    require_binary,
    wait_until,
)
from tests.support.tls_carrier import CARRIER_TLS

READY_TIMEOUT = 10.0

REGISTRAR_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
auto_aliases=no
listen=udp:{host}:{port}
alias="{host}:{port}"
{stream}

{tls_module}loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "ctl.so"
loadmodule "nathelper.so"

modparam("rr", "enable_full_lr", 1)
modparam("auth", "nonce_expire", 60)
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("registrar", "max_expires", {max_expires})
modparam("ctl", "binrpc", "unix:{ctl_socket}")
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("registrar", "received_avp", "$avp(RECEIVED)")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{ route(REGISTER); exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    # Only from a registered contact of the account: its source must be one of the bindings
    # (the contact's address, or over TCP/TLS the connection it registered from: "received").
    $var(source) = "sip:{user}@" + $si + ":" + $sp;
    $var(received) = "sip:" + $si + ":" + $sp + ";transport=" + $proto;
    $var(ok) = 0;
    if (reg_fetch_contacts("location", "{aor}", "r")) {{
        $var(i) = 0;
        while ($var(i) < $(ulc(r=>count))) {{
            if ($(ulc(r=>addr)[$var(i)]) == $var(source)) {{ $var(ok) = 1; }}
            if ($proto != "udp" && $(ulc(r=>received)[$var(i)]) == $var(received)) {{
                $var(ok) = 1;
            }}
            $var(i) = $var(i) + 1;
        }}
        reg_free_contacts("r");
    }}
    if ($var(ok) == 0) {{
        xlog("L_NOTICE", "REFUSED INVITE from $var(source) over $proto\\n");
        sl_send_reply("403", "Not registered");
        exit;
    }}
    record_route();
    $du = "sip:{target_host}:{target_port}";
    xlog("L_NOTICE", "RELAY INVITE $ru from $var(source)\\n");
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

route[REGISTER] {{
    xlog("L_NOTICE", "REGISTER t=$TV(Sn) cseq=$cs callid=$ci from=$fu to=$tu ruri=$ru "
         "expires=$hdr(Expires) contact=$ct src=$si:$sp auth=$au\\n");
    if ($au != "{user}" || !pv_{challenge}_authenticate("{realm}", "{password}", "0")) {{
        {challenge}_challenge("{realm}", "1");
        exit;
    }}
    consume_credentials();
    # TCP/TLS: the binding is reached through the connection it came over (the usual carrier
    # set-up, Kamailio's default configuration for NAT): kept as the contact's "received".
    if ($proto != "udp") {{ fix_nated_register(); }}
    if (!save("location")) {{ sl_reply_error(); }}
}}
"""

_REGISTER_LINE = re.compile(
    r"REGISTER t=(?P<t>[0-9.]+) cseq=(?P<cseq>\d+) callid=(?P<callid>\S+) from=(?P<from_uri>\S+) "
    r"to=(?P<to_uri>\S+) ruri=(?P<ruri>\S+) expires=(?P<expires>\S*) contact=(?P<contact>.*?) "
    r"src=(?P<source>\S+) auth=(?P<auth>\S*)$",
    re.MULTILINE,
)
# ul.dump: "Address: sip:…" then "Expires: <seconds left> | permanent | expired | deleted".
_BINDING = re.compile(r"Address:\s*(sip:\S+)\s+Expires:\s*(\S+)")


@dataclass(frozen=True)
class RegisterSeen:
    """One REGISTER as Kamailio logged it (before its challenge or save)."""

    at: float  # Kamailio's wall clock (time.time())
    cseq: int
    call_id: str
    from_uri: str
    to_uri: str
    ruri: str
    expires: str  # the Expires header ("" when absent)
    contact: str
    source: str  # ip:port it came from
    auth_user: str  # the digest user of its credentials ("<null>" when it carried none)


class KamailioRegistrar(Peer):
    """Kamailio 5.6 as a registrar for one account ``user`` at ``domain`` (see the module)."""

    name = "kamailio-registrar"

    def __init__(
        self,
        target: tuple[str, int],
        user: str,
        password: str,
        *,
        domain: str = "vestnik.test",
        realm: str = "vestnik.test",
        challenge: str = "www",
        max_expires: int = 0,
        port: int | None = None,
        workdir: Path | None = None,
        tls: Issued | None = None,
    ) -> None:
        super().__init__(workdir)
        if not user.isalnum() or not password.isalnum():
            raise ValueError("registrar test account: alphanumeric user and password")
        if challenge not in ("www", "proxy"):
            raise ValueError("challenge: www (401) or proxy (407)")
        self.target = target
        self.user = user
        self.password = password
        self.domain = domain
        self.realm = realm
        self.challenge = challenge
        self.max_expires = max_expires
        self.port = port or free_port()
        self.ctl_socket = self.workdir / "ctl.sock"
        self.tls = tls
        self.stream_ports = {"tcp": free_port(), "tls": free_port()} if tls is not None else {}

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.port

    def stream_address(self, transport: str = "tls") -> tuple[str, int]:
        """Where it listens over ``transport`` (tcp or tls; only when made with ``tls``)."""
        if transport not in self.stream_ports:
            raise RuntimeError(f"this registrar has no {transport} listener (give it tls)")
        return LOOPBACK, self.stream_ports[transport]

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    def _tls_parts(self) -> tuple[str, str]:
        """(the listeners' lines, the tls module's lines) for the configuration."""
        if self.tls is None:
            return "disable_tcp=yes", ""
        tls_cfg = self.workdir / "tls.cfg"
        tls_cfg.write_text(CARRIER_TLS.format(cert=self.tls.cert, key=self.tls.key))
        lines = ["disable_tcp=no", "enable_tls=yes", "tcp_connection_lifetime=3605"]
        for transport, port in self.stream_ports.items():
            lines += [f"listen={transport}:{LOOPBACK}:{port}", f'alias="{LOOPBACK}:{port}"']
        stream = "\n".join(lines)
        return stream, f'loadmodule "tls.so"\nmodparam("tls", "config", "{tls_cfg}")\n'

    def write_config(self) -> Path:
        stream, tls_module = self._tls_parts()
        config = REGISTRAR_CONFIG.format(
            stream=stream,
            tls_module=tls_module,
            host=LOOPBACK,
            port=self.port,
            realm=self.realm,
            user=self.user,
            password=self.password,
            aor=self.aor,
            challenge=self.challenge,
            max_expires=self.max_expires,
            ctl_socket=self.ctl_socket,
            target_host=self.target[0],
            target_port=self.target[1],
        )
        path = self.workdir / "kamailio.cfg"
        path.write_text(config)
        return path

    def start(self) -> None:
        binary = require_binary("kamailio", "kamailio")
        path = self.write_config()
        argv = [
            binary, "-DD", "-E", "-f", str(path), "-m", "32", "-M", "4",
            "-P", str(self.workdir / "kamailio.pid"), "-Y", str(self.workdir),
        ]  # fmt: skip
        self.process = PeerProcess(self.name, argv, self.workdir)
        process = self.process

        def ready() -> bool:
            process.check_alive()
            return sip_options_ok(self.address)

        wait_until(ready, READY_TIMEOUT, "the Kamailio registrar to answer OPTIONS", 0.1)

    def registers(self) -> list[RegisterSeen]:
        """Every REGISTER received so far, in order (challenged ones included)."""
        return [
            RegisterSeen(
                at=float(m["t"]),
                cseq=int(m["cseq"]),
                call_id=m["callid"],
                from_uri=m["from_uri"],
                to_uri=m["to_uri"],
                ruri=m["ruri"],
                expires=m["expires"] if m["expires"] != "<null>" else "",
                contact=m["contact"],
                source=m["source"],
                auth_user=m["auth"],
            )
            for m in _REGISTER_LINE.finditer(self.log())
        ]

    def contacts(self) -> list[str]:
        """The contacts registered now (``kamcmd ul.dump``: Kamailio holds this one account);
        lapsed bindings, which Kamailio keeps until its next clean-up, are left out."""
        kamcmd = require_binary("kamcmd", "kamailio")
        result = subprocess.run(
            [kamcmd, "-s", f"unix:{self.ctl_socket}", "ul.dump"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if result.returncode != 0 or "Domains:" not in result.stdout:
            raise RuntimeError(f"kamcmd ul.dump failed: {result.stdout}{result.stderr}")
        return [
            address
            for address, left in _BINDING.findall(result.stdout)
            if left == "permanent" or (left.isdigit() and int(left) > 0)
        ]
