"""Where everything lives, and the bounds: one place, read from the environment once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Debian's own tools first (dockerd finds containerd and runc through PATH): the PATH apt-get
# runs with, defined once in scripts/debian_packages.py.
from scripts.debian_packages import SYSTEM_PATH as SYSTEM_PATH

# Debian's client (docker.io 20.10), not the newer /usr/local/bin/docker: that one has no buildx
# plugin, so it falls back to the legacy builder and refuses DOCKER_BUILDKIT=1.
DOCKER_CLIENT = "/usr/bin/docker"
DOCKERD_BIN = "/usr/sbin/dockerd"
REGISTRY_BIN = "/usr/bin/docker-registry"
# HTTPS from containers goes through the host's TLS-inspecting egress: the base image trusts the
# host's bundle, kept outside /etc/ssl/certs so update-ca-certificates in an image cannot drop it.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA_BUNDLE = "/etc/ssl/host-ca-bundle.crt"
# The engine's Debian packages, and the container tools of the tests and benchmarks (wrk; curl;
# docker-compose checks compose.yaml). Monitoring's are in monitoring/debian-packages.txt.
PACKAGES = ("docker.io", "debootstrap", "docker-registry", "wrk", "curl", "docker-compose")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


@dataclass(frozen=True)
class Config:
    state: Path
    base_image: str
    base_suite: str
    registry_port: int
    dockerd_start_timeout: int
    registry_start_timeout: int
    stop_timeout: int

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            # A fixed path: the engine outlives the callers' temporary directories.
            state=Path(os.environ.get("CONTAINER_STATE_DIR", "/var/tmp/house-price-container")),  # noqa: S108
            base_image=os.environ.get("BASE_IMAGE", "local/python:3.11"),
            base_suite=os.environ.get("BASE_SUITE", "bookworm"),
            registry_port=_int("REGISTRY_PORT", 5055),
            dockerd_start_timeout=_int("DOCKERD_START_TIMEOUT", 60),
            registry_start_timeout=_int("REGISTRY_START_TIMEOUT", 30),
            stop_timeout=_int("STOP_TIMEOUT", 45),
        )

    @property
    def sock(self) -> Path:
        return self.state / "docker.sock"

    @property
    def exec_root(self) -> Path:
        return self.state / "exec"

    @property
    def bin_dir(self) -> Path:
        return self.state / "bin"

    @property
    def registry_dir(self) -> Path:
        return self.state / "registry"

    @property
    def registry_config(self) -> Path:
        return self.registry_dir / "config.yml"

    @property
    def registry_addr(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    def docker_env(self) -> dict[str, str]:
        """Our client talking to our engine only, never the default socket."""
        return {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_BUILDKIT": "1"}
