"""What the steps share: the settings, what the run started (for the cleanup), and commands run
bounded, each in a process group of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from servers import stop_process_group

REPO = Path(__file__).resolve().parents[2]
PROG = "rehearse"
ENGINE = REPO / "sandbox" / "engine.sh"
IMAGE_NAME = "house-price-model"
DOCKER_TIMEOUT = 120  # run, rm, rmi, inspect, logs
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Failure(Exception):  # noqa: N818 (a step's failure, not a program error)
    """A step failed; the message says why."""


class Stopped(BaseException):
    """SIGTERM or SIGINT: clean up and exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.code = 128 + signum


def say(message: str) -> None:
    print(f"{PROG}: {message}", flush=True)


def warn(message: str) -> None:
    print(f"{PROG}: WARNING: {message}", file=sys.stderr, flush=True)


def seconds(value: float) -> str:
    return f"{value:.1f}s"


def int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


@dataclass
class Settings:
    """The environment knobs (see the package's docstring)."""

    source: str = field(default_factory=lambda: os.environ.get("REHEARSE_SOURCE", "head"))
    keep: bool = field(default_factory=lambda: os.environ.get("REHEARSE_KEEP") == "1")
    venv: Path = field(
        default_factory=lambda: Path(os.environ.get("REHEARSE_VENV", REPO / ".venv"))
    )
    fail_at: str = field(default_factory=lambda: os.environ.get("REHEARSE_FAIL_AT", ""))
    namespace: str = field(
        default_factory=lambda: os.environ.get("DOCKERHUB_USERNAME", "rehearsal").lower()
    )
    repro_timeout: int = field(default_factory=lambda: int_env("REHEARSE_REPRO_TIMEOUT", 1800))
    build_timeout: int = field(default_factory=lambda: int_env("REHEARSE_BUILD_TIMEOUT", 1800))
    push_timeout: int = field(default_factory=lambda: int_env("REHEARSE_PUSH_TIMEOUT", 600))
    outer_tmpdir: str | None = field(default_factory=lambda: os.environ.get("TMPDIR") or None)


class Run:
    """One rehearsal. The steps fill in what later steps and the cleanup need."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.t0 = time.monotonic()
        self.step_name = "preflight"
        self.step_no = 0
        self.step_t0 = 0.0
        self.times: list[str] = []
        self.facts: dict[str, str] = {}
        self.work: Path | None = None
        self.run_id = ""
        # What was started, each stopped or removed by its own id at the end.
        self.children: list[subprocess.Popen] = []
        self.mlflow: subprocess.Popen | None = None
        self.s3: subprocess.Popen | None = None
        self.engine_ready = False
        self.engine_started = False
        self.registry_started = False
        self.containers: list[str] = []
        self.logs_shown: set[str] = set()
        self.images: list[str] = []
        self.pushed_digest = ""
        # Set by the steps, in order.
        self.sha = self.commit = self.tag = ""
        self.clone = self.clone2 = Path()
        self.base_image = self.registry = self.repo_ref = ""
        self.mlflow_url = self.s3_url = ""
        self.mlflow_log = Path()
        self.pull_t0 = 0.0
        self.ran: dict[int, list[str]] = {}
        self.sha_tag = self.latest_tag = self.image_id = ""
        self.api_port = 0
        self.container_t0 = 0.0
        self.healthy: dict[str, str] = {}
        self.pulled_ref = ""

    # --- steps ---------------------------------------------------------------------------------

    def end_step(self, outcome: str) -> None:
        if self.step_t0:
            took = seconds(time.monotonic() - self.step_t0)
            self.times.append(f"{self.step_name:<28} {took:>8}  {outcome}")
            self.step_t0 = 0.0

    def step(self, name: str) -> None:
        self.end_step("ok")
        self.step_name = name
        self.step_no += 1
        self.step_t0 = time.monotonic()
        print(f"\n==> [{self.step_no}] {name} (t+{seconds(self.step_t0 - self.t0)})", flush=True)
        if self.settings.fail_at == name:
            raise Failure(f"injected failure (REHEARSE_FAIL_AT='{name}')")

    # --- commands ------------------------------------------------------------------------------

    def run(
        self,
        command: list[str],
        timeout: float,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        capture: bool = False,
        check: bool = True,
        echo: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """`command` in a process group of its own (stopped as a whole on a bound, an error or a
        signal); its output goes to ours, and is also returned when `capture`."""
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            text=True,
            start_new_session=True,
        )
        self.children.append(process)
        lines: list[str] = []
        reader = None
        if capture:

            def read() -> None:
                assert process.stdout is not None
                for line in process.stdout:
                    lines.append(line)
                    if echo:
                        print(line, end="", flush=True)

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process_group(process, timeout=10)
            raise Failure(f"{Path(command[0]).name} did not finish within {timeout:.0f}s") from None
        except BaseException:
            stop_process_group(process, timeout=10)
            raise
        finally:
            self.children.remove(process)
            if reader is not None:
                reader.join(timeout=10)
        if check and process.returncode != 0:
            raise Failure(f"{' '.join(command[:3])} exited {process.returncode}")
        return subprocess.CompletedProcess(command, process.returncode, "".join(lines), "")

    def tool(self, name: str) -> str:
        return str(self.settings.venv / "bin" / name)

    def docker(self, *args: str, timeout: float = DOCKER_TIMEOUT, check: bool = True) -> str:
        return self.run(["docker", *args], timeout, capture=True, echo=False, check=check).stdout

    def git(self, repo: Path, *args: str) -> str:
        command = ["git", "-c", "user.name=rehearse", "-c", "user.email=rehearse@localhost"]
        return self.run([*command, "-C", str(repo), *args], 300, capture=True, echo=False).stdout

    def engine(self, action: str, timeout: float, **kw) -> subprocess.CompletedProcess[str]:
        """sandbox/engine.sh with the caller's TMPDIR: nothing of ours (the work dir is deleted
        at the end) may end up in a daemon's environment."""
        env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
        if self.settings.outer_tmpdir:
            env["TMPDIR"] = self.settings.outer_tmpdir
        return self.run(["bash", str(ENGINE), action], timeout, env=env, **kw)

    def image_exists(self, ref: str) -> bool:
        inspect = ["docker", "image", "inspect", ref]
        return (
            self.run(inspect, DOCKER_TIMEOUT, capture=True, check=False, echo=False).returncode == 0
        )

    def registry_answers(self) -> bool:
        try:
            with OPENER.open(f"http://{self.registry}/v2/", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    @property
    def registry_api(self) -> str:
        return f"http://{self.registry}/v2/{self.settings.namespace}/{IMAGE_NAME}"
