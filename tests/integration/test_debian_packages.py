"""`make monitor`'s Debian packages (docs/monitoring.md): monitoring/debian-packages.txt lists the
packages the monitoring binaries come from and nothing else; `make monitor` installs from that
list (not from the container engine's, which has docker.io, debootstrap, docker-registry, wrk
and docker-compose); scripts/debian_packages.py needs no root when every package is installed
and, as another user, refuses a missing one in one line naming the sudo command, before apt-get.
Nothing here installs anything: a test never runs apt-get as root. The monitoring packages must
be installed (.ci/run installs them first): without them a test fails naming the command, it is
never skipped."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import servers
from conftest import REPO, project_files, run
from servers import MONITORING_PACKAGES_HINT, MONITORING_TOOLS, missing_monitoring_tools

LIST = REPO / "monitoring" / "debian-packages.txt"
SCRIPT = REPO / "scripts" / "debian_packages.py"
NOBODY = 65534
NOT_NEEDED = "prometheus-pushgateway"  # a real Debian package that monitoring does not use


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("debian_packages", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_another_user(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`args` as a user who is not root (nobody, when the tests run as root)."""
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    prefix = drop if os.geteuid() == 0 else []
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    return subprocess.run(
        [*prefix, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def readable_dir() -> Iterator[Path]:
    """A directory the other user can read (pytest's tmp_path is the test user's only)."""
    path = Path(tempfile.mkdtemp(prefix="debian-packages-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_make_monitor_installs_from_the_monitoring_list_only() -> None:
    makefile = (REPO / "Makefile").read_text()
    rule = re.search(r"^monitor:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert rule, "no monitor rule"
    recipe = [line.strip() for line in rule.group(1).splitlines()]
    assert recipe[0] == "python3 scripts/debian_packages.py monitoring/debian-packages.txt"
    assert "engine.sh" not in rule.group(1), recipe
    assert "apt" not in rule.group(1), recipe
    assert f"sudo {recipe[0]}" == MONITORING_PACKAGES_HINT
    assert script().read_packages(LIST) == ["prometheus", "prometheus-alertmanager"]


def require_monitoring_tools() -> None:
    """Fails the test (never a skip) naming the monitoring binaries missing and the command
    that installs them: .ci/run runs it before the tests."""
    missing = missing_monitoring_tools()
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run `{MONITORING_PACKAGES_HINT}` (.ci/run does)",
            pytrace=False,
        )


def test_the_list_is_what_the_monitoring_binaries_come_from() -> None:
    require_monitoring_tools()
    owners = run(["dpkg", "-S", *MONITORING_TOOLS], REPO).stdout.splitlines()
    assert {line.split(":", 1)[0] for line in owners} == set(script().read_packages(LIST)), owners


def test_nothing_missing_needs_no_root() -> None:
    require_monitoring_tools()
    result = as_another_user([sys.executable, str(SCRIPT), str(LIST)], REPO)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_missing_package_is_refused_without_root_in_one_line(readable_dir: Path) -> None:
    assert not script().installed(NOT_NEEDED)
    wanted = readable_dir / "packages.txt"
    wanted.write_text(f"# a comment\nprometheus   # installed\n\n{NOT_NEEDED}\n")
    wanted.chmod(0o644)
    result = as_another_user([sys.executable, str(SCRIPT), str(wanted)], REPO)
    assert result.returncode == 1
    assert result.stderr == (
        f"debian_packages: error: {NOT_NEEDED} not installed; installing needs root (apt-get "
        f"writes the package database and /usr): run `sudo python3 {SCRIPT} {wanted}`\n"
    )
    assert not script().installed(NOT_NEEDED)


def test_a_missing_list_is_one_line(readable_dir: Path) -> None:
    result = as_another_user([sys.executable, str(SCRIPT), str(readable_dir / "none.txt")], REPO)
    assert result.returncode == 1
    missing = readable_dir / "none.txt"
    assert result.stderr == f"debian_packages: error: {missing}: No such file or directory\n"


def test_the_system_path_is_defined_once() -> None:
    """Debian's tools' PATH is scripts/debian_packages.py's SYSTEM_PATH, which sandbox/engine
    imports (as engine.sh runs it: the system's python3, the repo on its path), not a copy."""
    path = script().SYSTEM_PATH
    assert path.startswith("/usr/sbin:")
    defined = [
        name
        for name in project_files()
        if name.endswith(".py") and f'"{path}"' in (REPO / name).read_text()
    ]
    assert defined == ["scripts/debian_packages.py"]
    check = (
        "from sandbox.engine import config; from scripts import debian_packages; "
        "print(config.SYSTEM_PATH is debian_packages.SYSTEM_PATH)"
    )
    result = run(["python3", "-P", "-c", check], REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.stdout == "True\n"


def test_a_missing_monitoring_tool_fails_naming_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(servers, "MONITORING_TOOLS", (*MONITORING_TOOLS, "/usr/bin/no-such-tool"))
    with pytest.raises(pytest.fail.Exception) as failed:
        require_monitoring_tools()
    assert str(failed.value) == (
        f"/usr/bin/no-such-tool missing: run `{MONITORING_PACKAGES_HINT}` (.ci/run does)"
    )
