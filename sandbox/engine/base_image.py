"""The local stand-in for python:3.11-slim: Debian's minbase with python3, imported into our
engine. Rebuilt only when missing or when the host's CA bundle changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import mounts
from .config import DOCKER_CLIENT, HOST_CA_BUNDLE, IMAGE_CA_BUNDLE, SYSTEM_PATH, Config
from .procs import Failure, log, tail

CA_LABEL = "house-price.host-ca-sha256"
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SOURCES_LIST = Path("/etc/apt/sources.list")


def mirror(suite: str) -> str:
    """DEBIAN_MIRROR, else the first URI of the deb822 stanza whose Suites hold `suite` itself
    (not only -security or -updates), else sources.list's, else deb.debian.org."""
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"]
    if SOURCES.is_file():
        for stanza in SOURCES.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != " "
            )
            if suite in fields.get("Suites", "").split() and fields.get("URIs", "").split():
                return fields["URIs"].split()[0]
    if SOURCES_LIST.is_file():
        for line in SOURCES_LIST.read_text().splitlines():
            words = line.split()
            if len(words) > 2 and words[0] == "deb" and words[2] == suite:
                return words[1]
    return "http://deb.debian.org/debian"


def ca_sha() -> str:
    return hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest()


def current(cfg: Config) -> bool:
    result = subprocess.run(
        [DOCKER_CLIENT, "image", "inspect", "-f", f'{{{{index .Config.Labels "{CA_LABEL}"}}}}',
         cfg.base_image],
        env=cfg.docker_env(), capture_output=True, text=True,
    )  # fmt: skip
    return result.returncode == 0 and result.stdout.strip() == ca_sha()


def ensure(cfg: Config) -> None:
    if current(cfg):
        return
    if not os.access(HOST_CA_BUNDLE, os.R_OK):
        raise Failure(f"missing host CA bundle {HOST_CA_BUNDLE}")
    source = mirror(cfg.base_suite)
    log(f"building {cfg.base_image} with debootstrap ({cfg.base_suite} from {source}), 1-3 min")
    (cfg.state / "tmp").mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix="rootfs.", dir=cfg.state / "tmp"))
    try:
        build(cfg, temp / "rootfs", source)
    finally:
        mounts.remove_tree(temp)


def build(cfg: Config, rootfs: Path, source: str) -> None:
    started = time.monotonic()
    debootstrap_log = cfg.state / "debootstrap.log"
    with open(debootstrap_log, "wb") as out:
        done = subprocess.run(
            ["debootstrap", "--variant=minbase",
             "--include=python3,python3-venv,python3-pip,ca-certificates",
             cfg.base_suite, str(rootfs), source],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PATH": SYSTEM_PATH},
        )  # fmt: skip
    if done.returncode != 0:
        tail(debootstrap_log)
        raise Failure(f"debootstrap failed; see {debootstrap_log}")
    log(f"debootstrap done in {time.monotonic() - started:.0f}s, importing")
    started = time.monotonic()
    # Like python:3.11-slim: `python` on PATH, and not PEP 668 "externally managed" (a
    # Dockerfile may pip install without a venv).
    (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    # Trust the TLS-inspecting egress: as the system default, and as the stable copy that
    # PIP_CERT / SSL_CERT_FILE name.
    shutil.copy(HOST_CA_BUNDLE, rootfs / IMAGE_CA_BUNDLE.lstrip("/"))
    shutil.copy(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
    # Slim like the official image: no package caches or lists.
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log",
                    "tmp/*", "dev/*"):  # fmt: skip
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        *(f"ENV {name}={IMAGE_CA_BUNDLE}" for name in
          ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")),
        f"LABEL {CA_LABEL}={ca_sha()}",
        'CMD ["python3"]',
    ]  # fmt: skip
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE
    )
    imported = subprocess.run(
        [DOCKER_CLIENT, "import", *(a for c in changes for a in ("--change", c)),
         "--message", f"debootstrap {cfg.base_suite} minbase + python3 (sandbox/engine)",
         "-", cfg.base_image],
        stdin=tar.stdout, env=cfg.docker_env(), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise Failure(f"importing the root file system as {cfg.base_image} failed")
    python = subprocess.run(
        [DOCKER_CLIENT, "run", "--rm", "--network", "host", cfg.base_image, "python", "--version"],
        env=cfg.docker_env(), capture_output=True, text=True,
    )  # fmt: skip
    log(
        f"imported in {time.monotonic() - started:.0f}s; built {cfg.base_image} "
        f"({(python.stdout + python.stderr).strip()})"
    )
