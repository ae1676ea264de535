"""The release artefacts: the sdist and wheel, the installed command, the systemd unit.

The wheel is built the way a release is (``python -m build``: the sdist first, then the wheel
from the unpacked sdist, each in an isolated environment with the ``[build-system]``
setuptools), installed with its dependencies into a fresh venv (no editable install, nothing
of this checkout on ``sys.path``), and run from an empty working directory: ``vestnik --help``
and the demo, one real call over loopback to the built-in test phone. A file the service needs
at run time but the wheel lacks (a migration, a template) fails the demo or the content check.

Slow (about a minute, most of it pip installing the dependencies, from pip's cache after the
first run); never skipped in CI (tests/support/strict_ci.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import vestnik
from vestnik.config import Config

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
UNIT = ROOT / "deploy" / "systemd" / "vestnik.service"
# Where the unit expects the venv (docs/deploy.md).
UNIT_BINARY = "/opt/vestnik/bin/vestnik"
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 900
DEMO_TIMEOUT = 60


@dataclass
class Installed:
    """The built artefacts and a fresh venv with the wheel installed."""

    wheel: Path
    sdist: Path
    venv: Path
    workdir: Path  # an empty working directory outside the checkout

    @property
    def vestnik(self) -> str:
        return str(self.venv / "bin" / "vestnik")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=self.workdir,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def clean_env() -> dict[str, str]:
    """This environment without what would point Python or vestnik at the checkout."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {
        name: value
        for name, value in os.environ.items()
        if name not in dropped and not name.startswith("VESTNIK_")
    }


def source_files() -> set[str]:
    """Every file of the package in the source tree, as paths inside the wheel."""
    package = SRC / "vestnik"
    return {
        str(path.relative_to(SRC))
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("packaging")
    dist = base / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert built.returncode == 0, f"python -m build failed:\n{built.stdout}\n{built.stderr}"
    (wheel,) = dist.glob("vestnik-*.whl")
    (sdist,) = dist.glob("vestnik-*.tar.gz")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    pip = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        cwd=base,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert pip.returncode == 0, f"pip install of the wheel failed:\n{pip.stdout}\n{pip.stderr}"
    workdir = base / "cwd"
    workdir.mkdir()
    yield Installed(wheel=wheel, sdist=sdist, venv=env_dir, workdir=workdir)


def test_wheel_holds_the_whole_package_and_the_licence(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"vestnik-{vestnik_version()}.dist-info/METADATA").decode()
    packaged = {name for name in names if name.startswith("vestnik/")}
    assert source_files() - packaged == set(), "files of src/vestnik missing from the wheel"
    assert "vestnik/store/migrations/script.py.mako" in packaged
    assert any(re.fullmatch(r"vestnik/store/migrations/versions/0001_\w+\.py", n) for n in names)
    # Nothing but the package and its metadata (no tests, no stray top-level modules).
    assert {name.split("/")[0] for name in names} == {
        "vestnik",
        f"vestnik-{vestnik_version()}.dist-info",
    }
    assert f"vestnik-{vestnik_version()}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: BSD-2-Clause" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()


def test_sdist_holds_the_sources_and_the_licence(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = set(sdist.getnames())
    prefix = f"vestnik-{vestnik_version()}/"
    assert {f"{prefix}LICENSE", f"{prefix}README.md", f"{prefix}pyproject.toml"} <= names
    in_sdist = {name.removeprefix(f"{prefix}src/") for name in names}
    assert source_files() - in_sdist == set(), "files of src/vestnik missing from the sdist"
    licence = (ROOT / "LICENSE").read_text()
    assert "BSD 2-Clause" in licence and "the vestnik authors" in licence


def vestnik_version() -> str:
    from importlib.metadata import version

    return version("vestnik")


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    probe = installed.run(
        installed.python,
        "-c",
        "import json, sys, vestnik; print(json.dumps([vestnik.__file__, sys.path]))",
    )
    assert probe.returncode == 0, probe.stderr
    module_file, path = json.loads(probe.stdout)
    site_packages = installed.venv / "lib"
    assert Path(module_file).is_relative_to(site_packages), module_file
    assert not any(entry and Path(entry).resolve().is_relative_to(ROOT) for entry in path), path
    # The test's own interpreter imports the checkout: the two are really different copies.
    assert Path(vestnik.__file__).resolve().is_relative_to(SRC)


def test_installed_command_answers_help_and_version(installed: Installed) -> None:
    help_text = installed.run(installed.vestnik, "--help")
    assert help_text.returncode == 0, help_text.stderr
    for command in ("serve", "admin", "demo"):
        assert command in help_text.stdout
    serve_help = installed.run(installed.vestnik, "serve", "--help")
    assert serve_help.returncode == 0 and "--config" in serve_help.stdout  # the unit uses it
    version = installed.run(installed.vestnik, "--version")
    assert version.stdout.strip() == f"vestnik {vestnik_version()}"


def test_installed_demo_places_a_real_call(installed: Installed) -> None:
    data_dir = installed.workdir / "demo-data"
    demo = installed.run(
        installed.vestnik,
        "demo",
        "--json",
        "--data-dir",
        str(data_dir),
        "--timeout",
        str(DEMO_TIMEOUT),
        timeout=DEMO_TIMEOUT + 60,
    )
    assert demo.returncode == 0, f"demo failed:\n{demo.stdout}\n{demo.stderr}"
    result = json.loads(demo.stdout)
    session = result["session"]
    assert session["state"] == "finished"
    assert session["finish_reason"] == "success_finish"
    assert session["sip_code"] == 200
    phone = result["phone_call"]
    assert [d["digit"] for d in phone["digits"]] == ["1", "2", "#"]
    assert phone["audio_seconds"] > 3  # the TTS message was heard, not just a tone
    assert Path(phone["wav"]).is_file()
    assert (data_dir / "vestnik.db").is_file()  # the migrations shipped in the wheel ran


# --- the systemd unit -----------------------------------------------------------------------


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Section.Key`` → its values in order (unit files may repeat a key)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


def verify_unit(text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` of ``text`` as ``vestnik.service``.

    verify refuses a unit whose ExecStart binary does not exist, and /opt/vestnik is not
    installed here: the copy's ExecStart points at a stub executable in ``folder`` instead,
    which changes nothing else. verify exits 0 even for an unknown key or a bad value, only
    printing them, so the caller requires empty output as well.
    """
    stub = folder / "vestnik"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = folder / "vestnik.service"
    unit.write_text(text.replace(UNIT_BINARY, str(stub)))
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")


def test_unit_passes_systemd_analyze_verify(systemd_analyze: None, tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert f"ExecStart={UNIT_BINARY} " in text
    checked = verify_unit(text, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""
    # The check sees a mistake: a misspelt value is reported.
    broken = tmp_path / "broken"
    broken.mkdir()
    typo = verify_unit(text.replace("KillMode=mixed", "KillMode=mixd"), broken)
    assert "mixd" in typo.stdout + typo.stderr


def test_unit_stops_by_draining_and_restarts_on_failure() -> None:
    settings = unit_settings(UNIT.read_text())
    (exec_start,) = settings["Service.ExecStart"]
    assert exec_start.split()[:4] == [UNIT_BINARY, "serve", "--config", "/etc/vestnik/vestnik.toml"]
    assert settings["Service.Type"] == ["exec"]  # vestnik has no sd_notify
    assert settings["Service.User"] == ["vestnik"]
    assert settings["Service.KillMode"] == ["mixed"]
    assert settings["Service.Restart"] == ["on-failure"]
    assert float(settings["Service.RestartSec"][0]) > 0
    # The drain (shutdown_grace) and the edge's stop fit before systemd's SIGKILL.
    grace = Config().dialer.shutdown_grace
    assert float(settings["Service.TimeoutStopSec"][0]) >= grace + 15
    assert int(settings["Service.LimitNOFILE"][0]) >= 4 * Config().dialer.max_concurrent_calls
    assert settings["Service.NoNewPrivileges"] == ["yes"]
    assert settings["Service.ProtectSystem"] == ["strict"]
    assert settings["Service.StateDirectory"] == ["vestnik"]
