"""Test certificates made at test time with the openssl command (Debian package openssl):
a CA, and server certificates signed by it for the names a test wants.

    ca = TestCa(tmp_path / "ca")
    server = ca.issue("carrier", dns=["carrier.test"], ips=["127.0.0.1"])
    ... server.cert, server.key, ca.cert (PEM paths)
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import require_binary


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class TestCa:
    """A throw-away certificate authority in ``workdir``."""

    __test__ = False  # not a pytest class

    def __init__(self, workdir: Path, name: str = "vestnik test CA") -> None:
        self.openssl = require_binary("openssl", "openssl")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.cert = workdir / "ca.pem"
        self.key = workdir / "ca-key.pem"
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                  f"/CN={name}", "-keyout", str(self.key), "-out", str(self.cert))  # fmt: skip

    def _run(self, *args: str) -> None:
        subprocess.run([self.openssl, *args], check=True, capture_output=True, timeout=60)

    def issue(
        self, stem: str, *, dns: Sequence[str] = (), ips: Sequence[str] = (), cn: str = ""
    ) -> Issued:
        """A server certificate for these names (subjectAltName), signed by this CA."""
        cert, key = self.workdir / f"{stem}.pem", self.workdir / f"{stem}-key.pem"
        csr, ext = self.workdir / f"{stem}.csr", self.workdir / f"{stem}.ext"
        names = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        ext.write_text(f"subjectAltName={','.join(names)}\n" if names else "")
        subject = cn or (list(dns) + list(ips) + [stem])[0]
        self._run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={subject}",
                  "-keyout", str(key), "-out", str(csr))  # fmt: skip
        self._run("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey",
                  str(self.key), "-CAcreateserial", "-days", "2", "-out", str(cert),
                  "-extfile", str(ext))  # fmt: skip
        return Issued(cert, key)
