"""Three ``vestnik serve`` nodes on three simulated machines: one killed under load, brought back.

Each node runs in a network namespace of its own (``tests/support/netns.py``) with its own
address on a bridge: its HTTP API, SIP and RTP bind that address, it reaches PostgreSQL (a
private cluster on a fourth machine) and the SIPp trunk (a fifth) over the bridge, and the test
drives the API from the host's side of the bridge. Nothing is shared through loopback.

Each node holds at most three calls and three waiting sessions, so under a few calls per second
of ~3 s calls every node has live calls and a queue. Node ``n3`` is killed (SIGKILL to its
process group) while it has both; then, from the database and from SIPp's INVITEs:

- every session ends in a final state with a finish_reason;
- no contact is dialled twice;
- ``n3``'s live calls end ``internal_error``, saying the dialer was lost;
- ``n3``'s claimed, undialled sessions are dialled by ``n1``/``n2`` (its lease lapses, their
  sweep requeues them) and succeed;
- every other session succeeds, ``n3`` restarted (same dialer id) serves and dials again, and
  every INVITE arrived from a node's own address.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.netns import (
    Machine,
    NetnsSippUas,
    NodeProcess,
    PrivatePostgres,
    SimulatedNetwork,
    require_netns,
)
from tests.support.processes import wait_until
from tests.support.serve import serve_env
from tests.support.sessions import informer_call, provision
from vestnik.store import create_db_engine, migrate
from vestnik.store.accounts import list_accounts, update_account
from vestnik.store.schema import call_sessions

pytestmark = [pytest.mark.netns, pytest.mark.sip]

MESSAGE = "Проверка связи. Это тестовое сообщение сервиса Вестник."  # about 3 s
NODES = ("n1", "n2", "n3")
VICTIM = "n3"
HTTP_PORT = 8080
SIP_PORT = 5060
LEASE_SECONDS = 4
FIRST_WAVE = 30  # requests, round-robin over the live nodes
WAVE_RATE = 5.0  # requests per second
SECOND_WAVE = 6
CALL_STATES = ("dialing", "ringing", "answered")


@pytest.fixture
def network() -> Iterator[SimulatedNetwork]:
    require_netns()
    net = SimulatedNetwork()
    try:
        net.open()
        yield net
    finally:
        net.close()


@pytest.fixture
def postgres(network: SimulatedNetwork) -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres(network.add("pg"), network.prefix, network.tag)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


def _node_env(
    tmp_path: Path, machine: Machine, pg: PrivatePostgres, sipp: NetnsSippUas
) -> dict[str, str]:
    host = machine.address
    return serve_env(
        tmp_path / machine.name, pg.url, sipp, HTTP_PORT, SIP_PORT,
        VESTNIK_SERVER_HOST=host,
        VESTNIK_SIP_BIND_HOST=host, VESTNIK_SIP_ADVERTISED_HOST=host,
        VESTNIK_RTP_BIND_HOST=host, VESTNIK_RTP_ADVERTISED_HOST=host,
        VESTNIK_RTP_PORT_MIN="20000", VESTNIK_RTP_PORT_MAX="20099",
        VESTNIK_TRUNK_HOST=sipp.host, VESTNIK_TRUNK_PORT=str(sipp.port),
        VESTNIK_DIALER_ID=machine.name,
        VESTNIK_DIALER_LEASE_SECONDS=str(LEASE_SECONDS),
        VESTNIK_DIALER_MAX_CONCURRENT_CALLS="3",
        VESTNIK_DIALER_MAX_WAITING_SESSIONS="3",
    )  # fmt: skip


def _rows(engine: Engine, where: Any = None) -> list[dict[str, Any]]:
    query = sa.select(call_sessions)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        result = conn.execute(query.order_by(call_sessions.c.id))
        return [dict(r) for r in result.mappings()]


def _owned_by(node: str) -> Any:
    return call_sessions.c.lease_owner.like(f"{node}/%")


def _victim_busy(engine: Engine) -> bool:
    """The victim holds at least one call in progress and one claimed, undialled session."""
    held = _rows(engine, _owned_by(VICTIM))
    return any(r["state"] in CALL_STATES for r in held) and any(
        r["state"] == "queued" for r in held
    )


class Load:
    """start.informer_call requests, round-robin over the nodes' API addresses, one contact each."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.client = httpx.Client(timeout=5, trust_env=False)
        self.accepted: dict[int, str] = {}  # session id → contact
        self.sent = 0

    def post(self, node: NodeProcess) -> None:
        contact = f"792600{self.sent:05d}"
        self.sent += 1
        body = informer_call(self.token, contact, MESSAGE)
        reply = self.client.post(node.url + "/v4.0", json=body).json()
        assert "result" in reply, reply
        self.accepted[int(reply["result"]["data"]["call_session_id"])] = contact


def _kill_victim(nodes: dict[str, NodeProcess], engine: Engine) -> tuple[list[int], list[int]]:
    """SIGKILL to the victim's process group; its calls in progress and claimed queue then."""
    nodes[VICTIM].kill9()
    state = call_sessions.c.state
    live = _ids(engine, sa.and_(_owned_by(VICTIM), state.in_(CALL_STATES)))
    queued = _ids(engine, sa.and_(_owned_by(VICTIM), state == "queued"))
    assert live and queued  # what the kill waited for (no lease has lapsed yet)
    return live, queued


def _first_wave(
    load: Load, nodes: dict[str, NodeProcess], engine: Engine
) -> tuple[list[int], list[int]]:
    """Load at WAVE_RATE; kills the victim once it is busy (``_kill_victim``'s result)."""
    killed: tuple[list[int], list[int]] | None = None
    for i in range(FIRST_WAVE):
        live = [n for name, n in nodes.items() if not (killed and name == VICTIM)]
        load.post(live[i % len(live)])
        if not killed and i >= FIRST_WAVE // 3 and _victim_busy(engine):
            killed = _kill_victim(nodes, engine)
        time.sleep(1 / WAVE_RATE)
    if not killed:  # the wave is over: kill as soon as the victim has both
        wait_until(lambda: _victim_busy(engine), 15, f"{VICTIM} to hold calls and a queue", 0.02)
        killed = _kill_victim(nodes, engine)
    return killed


def _invite_sources(sipp: NetnsSippUas) -> set[str]:
    """The top Via hosts and the SDP ``c=`` addresses of the INVITEs SIPp received."""
    trace = sipp.trace.read_text(errors="replace") if sipp.trace.exists() else ""
    found = set()
    for header in (r"Via: SIP/2\.0/UDP ", r"c=IN IP4 "):
        found |= set(re.findall(rf"^INVITE [^\n]*\n(?:[^\n]*\n)*?{header}([\d.]+)", trace, re.M))
    return found


@dataclass
class Outcome:
    """What the run left: the sessions, what was accepted, the victim's state at the kill."""

    rows: dict[int, dict[str, Any]]
    accepted: dict[int, str]
    victim_live: list[int]
    victim_queued: list[int]
    second_wave: list[int]
    calls_by_contact: dict[str, int]
    invite_sources: set[str]


def _ids(engine: Engine, where: Any) -> list[int]:
    return [int(r["id"]) for r in _rows(engine, where)]


def _kill_and_bring_back(
    load: Load, nodes: dict[str, NodeProcess], engine: Engine, restart: Callable[[], NodeProcess]
) -> tuple[list[int], list[int]]:
    """The first wave with the kill, the victim's sessions then, its queue redialled, restart."""
    live, queued = _first_wave(load, nodes, engine)

    def redialled() -> bool:
        rows = _rows(engine, call_sessions.c.id.in_(queued))
        return all(r["dial_attempts"] >= 1 for r in rows)

    # Only a lapsed lease (no restart yet) frees them: the other nodes' sweep requeues them.
    wait_until(redialled, LEASE_SECONDS * 3 + 15, f"{VICTIM}'s queue to be dialled", 0.1)
    nodes[VICTIM].cleanup()
    nodes[VICTIM] = restart()
    nodes[VICTIM].wait_ready()
    return live, queued


def _run(tmp_path: Path, network: SimulatedNetwork, postgres: PrivatePostgres) -> Outcome:
    machines = {name: network.add(name) for name in NODES}
    sip_machine = network.add("sip")
    engine = create_db_engine(postgres.url)
    migrate(engine)
    load = Load(provision(engine, max_concurrent_calls=100))
    with engine.begin() as conn:  # the API is called from the host's bridge address
        (account,) = list_accounts(conn)
        update_account(conn, account["id"], ip_allowlist=[f"{network.prefix}.0/24"])
    nodes: dict[str, NodeProcess] = {}
    with NetnsSippUas(sip_machine, tmp_path / "sipp") as sipp:
        envs = {name: _node_env(tmp_path, m, postgres, sipp) for name, m in machines.items()}

        def start(name: str) -> NodeProcess:
            return NodeProcess(machines[name], envs[name], tmp_path / f"{name}.log", HTTP_PORT)

        try:
            for name in NODES:
                nodes[name] = start(name)
            for node in nodes.values():
                node.wait_ready()
            live, queued = _kill_and_bring_back(load, nodes, engine, lambda: start(VICTIM))
            first_ids = set(load.accepted)
            for _ in range(SECOND_WAVE):
                load.post(nodes[VICTIM])  # the restarted node's API, its dialer woken at once
            second = sorted(set(load.accepted) - first_ids)
            wait_until(
                lambda: all(r["state"] == "finished" for r in _rows(engine)), 60, "the end", 0.2
            )
            for node in nodes.values():
                assert node.terminate() == 0, node.log.read_text()[-3000:]
        finally:
            for node in nodes.values():
                node.cleanup()
        outcome = Outcome(
            {int(r["id"]): r for r in _rows(engine)}, load.accepted, live, queued, second,
            dict(sipp.calls_by_contact()), _invite_sources(sipp),
        )  # fmt: skip
    engine.dispose()
    return outcome


def test_three_nodes_one_killed_and_brought_back(
    tmp_path: Path, network: SimulatedNetwork, postgres: PrivatePostgres
) -> None:
    out = _run(tmp_path, network, postgres)
    rows = out.rows
    reasons = Counter(str(r["finish_reason"]) for r in rows.values())
    print(  # the scale of the run, for -s
        f"{len(rows)} sessions {dict(reasons)}; at the kill {VICTIM} had "
        f"{len(out.victim_live)} calls up and {len(out.victim_queued)} claimed in its queue"
    )
    assert set(out.accepted) <= set(rows)  # every accepted session is there ...
    unfinished = [r for r in rows.values() if r["state"] != "finished" or not r["finish_reason"]]
    assert unfinished == []  # ... and every session ended, with a reason
    assert [c for c, n in out.calls_by_contact.items() if n > 1] == []  # none dialled twice
    assert all(r["dial_attempts"] <= 1 for r in rows.values())
    for sid in out.victim_live:  # the killed node's calls end with a reason
        assert rows[sid]["finish_reason"] == "internal_error", rows[sid]
        # Settled by the others' sweep (lease expired) or, had it not run yet, by the restart.
        assert re.search("lease expired|previous run", rows[sid]["finish_detail"]), rows[sid]
    for sid in out.victim_queued:  # its queue was dialled by the others
        assert rows[sid]["finish_reason"] == "success_finish", rows[sid]
        assert not str(rows[sid]["lease_owner"]).startswith(f"{VICTIM}/"), rows[sid]
    others = [r for sid, r in rows.items() if sid not in out.victim_live]
    assert [r for r in others if r["finish_reason"] != "success_finish"] == []
    dialled = {str(r["contact"]) for r in rows.values() if r["dial_attempts"] >= 1}
    assert set(out.calls_by_contact) == dialled  # SIPp saw exactly the dialled contacts
    owners = {str(r["lease_owner"]).split("/")[0] for r in others}
    assert owners == set(NODES)  # all three dialled, the victim after its restart too
    restarted = [rows[s] for s in out.second_wave if str(rows[s]["lease_owner"]).startswith(VICTIM)]
    assert restarted  # the restarted node took part of its own API's load
    node_addresses = {network.machines[name].address for name in NODES}
    # SIP (Via) and RTP (SDP c=) at the nodes' own addresses, nothing else:
    assert out.invite_sources == node_addresses
