"""The simulated machines clean up after themselves, and after a crashed earlier run."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.netns import PREFIX, SimulatedNetwork, remove_leftovers, require_netns
from tests.support.processes import wait_until

pytestmark = pytest.mark.netns


def _namespaces() -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]


def test_machines_reach_each_other_and_close_leaves_nothing() -> None:
    require_netns()
    net = SimulatedNetwork()
    try:
        net.open()
        a, b = net.add("a"), net.add("b")
        assert a.address != b.address and a.address.startswith(net.prefix + ".")
        listener = subprocess.Popen(
            b.argv(["python3", "-c", "import socket,time; s=socket.socket(); "
                    f"s.bind(('{b.address}', 7000)); s.listen(); time.sleep(30)"]),
            start_new_session=True,
        )  # fmt: skip
        wait_until(lambda: b.listening("tcp", 7000), 10, "the listener on b")
        assert not a.listening("tcp", 7000)  # b's socket is b's alone
        probe = f"import socket; socket.create_connection(('{b.address}', 7000), 5).close()"
        subprocess.run(a.argv(["python3", "-c", probe]), check=True, timeout=10)  # a → b
        subprocess.run(["python3", "-c", probe], check=True, timeout=10)  # host → b
    finally:
        net.close()
    assert listener.wait(5) != 0  # killed with its machine
    assert net.leftovers() == []


def test_leftovers_of_a_dead_run_are_removed() -> None:
    require_netns()
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process has any more: the "crashed run"
    tag = f"{PREFIX}{gone.pid}"
    subprocess.run(["ip", "netns", "add", f"{tag}-x"], check=True)
    subprocess.run(["ip", "link", "add", f"{tag}h", "type", "veth", "peer", "name", f"{tag}p"],
                   check=True)  # fmt: skip
    stray = subprocess.Popen(
        ["ip", "netns", "exec", f"{tag}-x", "sleep", "60"], start_new_session=True
    )
    datadir = Path(tempfile.mkdtemp(prefix=f"{tag}-pg-"))
    try:
        removed = remove_leftovers()
        assert {f"{tag}-x", f"{tag}h", str(datadir)} <= set(removed)
        assert f"{tag}-x" not in _namespaces()
        assert not os.path.exists(datadir)
        assert stray.wait(5) != 0  # the process left in it was ended
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert f"{tag}h@" not in links and f"{tag}p@" not in links
    finally:
        subprocess.run(["ip", "netns", "del", f"{tag}-x"], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", f"{tag}h"], check=False, capture_output=True)
        if stray.poll() is None:
            os.killpg(stray.pid, 9)
