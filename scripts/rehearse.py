"""Rehearse the CI workflow (.github/workflows/ci.yml) on this machine: DVC remote, image push.

    python scripts/rehearse.py          (or: make rehearse)

The workflow's steps, in its order, with its scripts and its DVC commands:
  checkout            a temporary clean clone of the committed HEAD (actions/checkout); the image
                      tag is the commit's short sha (docker/metadata-action type=sha,format=short)
  container engine    scripts/container_env.sh up, its env, registry-up (a local registry on
                      127.0.0.1 stands in for Docker Hub)
  mlflow server       a real `mlflow server` (sqlite, --serve-artifacts, --workers 1, the
                      workflow's --allowed-hosts) on a free loopback port, waited for with
                      scripts/wait_for_http.py exactly as the workflow does
  s3 server           moto's S3 API server on a free loopback port, an empty bucket: the remote
                      (DVC_REMOTE_URL + DVC_REMOTE_ENDPOINT_URL + the keys, as on push to main)
  run 1               dvc remote --local, dvc pull --run-cache --allow-missing, dvc repro
                      --pull against MLflow, dvc metrics show --md, dvc push --run-cache
  run 2               a second clean clone of the same commit: the same pull and repro, which
                      must run no stage (everything comes from the remote)
  docker build        a fresh checkout holding run 2's bundle in models/house-price (the image
                      job's context: checkout + downloaded artifact)
  run / smoke test    the image on --network host, scripts/smoke_test.py, the logs always shown
  push / pull         both tags to the local registry, every blob checked, the local image
                      removed, pulled back by digest, run and smoke-tested again
Everything it started (containers, servers, images, the pushed manifest, the registry and the
Docker engine if it started them, the temporary directory) is stopped and removed on exit,
whatever happens, each by its own id. An engine or registry it found running is left running,
and the engine is checked to still answer.

Any failure exits non-zero and names the step: `rehearse: FAILED at step 'dvc repro (run 1)'`.

Environment:
  REHEARSE_SOURCE=head|worktree  head (default): the committed HEAD, like CI. worktree: the
                                 working tree's tracked and untracked-but-not-ignored files,
                                 committed in the copy; tagged <HEAD short sha>-worktree
  REHEARSE_KEEP=1                keep the temporary directory (clones, MLflow store, logs)
  REHEARSE_VENV                  the venv with the pinned requirements (default: <repo>/.venv)
  DOCKERHUB_USERNAME             namespace of the pushed repository (default: rehearsal)
  REHEARSE_FAIL_AT=<step>        test hook: fail deliberately at the start of that step
  REHEARSE_REPRO_TIMEOUT / REHEARSE_BUILD_TIMEOUT / REHEARSE_PUSH_TIMEOUT (seconds)
  TMPDIR                         where the temporary directory goes (default /tmp)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from servers import (  # noqa: E402 (the helper module shared with the tests)
    CI_DVC_PULL,
    CI_DVC_PUSH,
    CI_DVC_REPRO,
    free_port,
    loopback_env,
    s3_remote_options,
    spawn,
    start_s3_server,
    stop_process_group,
)

PROG = "rehearse"
CONTAINER_ENV = REPO / "scripts" / "container_env.sh"
IMAGE_NAME = "house-price-model"
BUCKET = "rehearsal"
# Bounds (seconds). The workflow gives `dvc repro` 30 minutes and waits 60 s for MLflow and the API.
ENGINE_TIMEOUT = 1200  # `up` may build the base image (debootstrap) and waits 900 s for its lock
MLFLOW_HEALTH_TIMEOUT = 60
MLFLOW_API_TIMEOUT = 30
SMOKE_HEALTH_TIMEOUT = 60
SMOKE_TIMEOUT = 600  # the smoke test as a whole
DOCKER_TIMEOUT = 120  # run, rm, rmi, inspect, logs
DVC_TIMEOUT = 600  # remote, pull, push, metrics
REQUIRED = [
    "Dockerfile",
    ".github/workflows/ci.yml",
    "scripts/wait_for_http.py",
    "scripts/smoke_test.py",
    "dvc.yaml",
    "requirements.txt",
]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


class Rehearsal:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.step_name = "preflight"
        self.step_no = 0
        self.step_t0 = 0.0
        self.times: list[str] = []
        self.source = os.environ.get("REHEARSE_SOURCE", "head")
        self.keep = os.environ.get("REHEARSE_KEEP") == "1"
        self.venv = Path(os.environ.get("REHEARSE_VENV", REPO / ".venv"))
        self.fail_at = os.environ.get("REHEARSE_FAIL_AT", "")
        self.namespace = os.environ.get("DOCKERHUB_USERNAME", "rehearsal").lower()
        self.repro_timeout = int_env("REHEARSE_REPRO_TIMEOUT", 1800)
        self.build_timeout = int_env("REHEARSE_BUILD_TIMEOUT", 1800)
        self.push_timeout = int_env("REHEARSE_PUSH_TIMEOUT", 600)
        self.outer_tmpdir = os.environ.get("TMPDIR") or None
        self.work: Path | None = None
        self.run_id = ""
        self.mlflow: subprocess.Popen | None = None
        self.s3: subprocess.Popen | None = None
        self.children: list[subprocess.Popen] = []
        self.engine_ready = False
        self.engine_started = False
        self.registry_started = False
        self.containers: list[str] = []
        self.logs_shown: set[str] = set()
        self.images: list[str] = []
        self.pushed_digest = ""
        self.registry = ""
        self.repo_ref = ""
        self.facts: dict[str, str] = {}

    # --- steps and commands ------------------------------------------------------------------

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
        elapsed = seconds(self.step_t0 - self.t0)
        print(f"\n==> [{self.step_no}] {name} (t+{elapsed})", flush=True)
        if self.fail_at and self.fail_at == name:
            raise Failure(f"injected failure (REHEARSE_FAIL_AT='{self.fail_at}')")

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
        out = subprocess.PIPE if capture else None
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
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
        result = subprocess.CompletedProcess(command, process.returncode, "".join(lines), "")
        if check and process.returncode != 0:
            raise Failure(f"{' '.join(command[:3])} exited {process.returncode}")
        return result

    def tool(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def docker(self, *args: str, timeout: float = DOCKER_TIMEOUT, **kw) -> str:
        return self.run(["docker", *args], timeout, capture=True, echo=False, **kw).stdout

    def container_env(self, action: str, timeout: float = ENGINE_TIMEOUT, **kw):
        """scripts/container_env.sh with the caller's TMPDIR: nothing of ours (the work dir is
        deleted at the end) may end up in a daemon's environment."""
        env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
        if self.outer_tmpdir:
            env["TMPDIR"] = self.outer_tmpdir
        return self.run(["bash", str(CONTAINER_ENV), action], timeout, env=env, **kw)

    # --- the rehearsal -----------------------------------------------------------------------

    def preflight(self) -> None:
        if self.source not in ("head", "worktree"):
            raise Failure(f"REHEARSE_SOURCE must be 'head' or 'worktree', got '{self.source}'")
        if not re.fullmatch(r"[a-z0-9]+([._-][a-z0-9]+)*", self.namespace):
            raise Failure(
                f"DOCKERHUB_USERNAME '{self.namespace}' is not a valid repository namespace"
            )
        missing = [
            t
            for t in ("python", "dvc", "mlflow", "moto_server")
            if not os.access(self.tool(t), os.X_OK)
        ]
        if missing:
            raise Failure(
                f"no venv with {', '.join(missing)} at {self.venv} "
                "(run 'make install', or set REHEARSE_VENV)"
            )
        for tool in ("git", "bash"):
            if shutil.which(tool) is None:
                raise Failure(f"'{tool}' is not installed")
        self.git(REPO, "rev-parse", "--verify", "-q", "HEAD")
        # A fresh runner: no tracking server, DVC settings or cloud keys inherited from here;
        # loopback never through a proxy.
        for name in list(os.environ):
            if name.startswith(("MLFLOW_", "DVC_", "AWS_")):
                del os.environ[name]
        os.environ.update(
            loopback_env(dict(os.environ)),
            MLFLOW_DISABLE_TELEMETRY="true",
            DVC_NO_ANALYTICS="1",
            PYTHONUNBUFFERED="1",
        )
        self.work = Path(tempfile.mkdtemp(prefix="rehearse.", dir=self.outer_tmpdir))
        self.run_id = self.work.name
        # What the tools leave in their temporary directory (MLflow's locks, ...) goes too.
        (self.work / "tmp").mkdir()
        os.environ["TMPDIR"] = str(self.work / "tmp")
        say(f"run {self.run_id}, working in {self.work}")

    def git(self, repo: Path, *args: str) -> str:
        command = ["git", "-c", "user.name=rehearse", "-c", "user.email=rehearse@localhost"]
        return self.run([*command, "-C", str(repo), *args], 300, capture=True, echo=False).stdout

    def checkout(self) -> None:
        assert self.work is not None
        self.sha = self.git(REPO, "rev-parse", "HEAD").strip()
        self.clone = self.work / "repo"
        if self.source == "head":
            self.git(REPO, "clone", "--quiet", "--no-checkout", str(REPO), str(self.clone))
            self.git(self.clone, "checkout", "--quiet", "--detach", self.sha)
            self.tag = self.sha[:7]
            subject = self.git(REPO, "log", "-1", "--format=%s", self.sha).strip()
            say(f"clean clone of HEAD {self.sha} ({subject})")
        else:
            listing = self.git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
            names = [n for n in listing.split("\0") if n and os.path.lexists(REPO / n)]
            for name in names:
                target = self.clone / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, target, follow_symlinks=False)
            self.git(self.clone, "init", "-q", "-b", "main")
            self.git(self.clone, "add", "-A", "-f")
            self.git(self.clone, "commit", "-q", "--no-verify", "-m", f"rehearsal: on {self.sha}")
            self.tag = f"{self.sha[:7]}-worktree"
            say(
                f"REHEARSE_SOURCE=worktree: {len(names)} files of the working tree "
                f"on HEAD {self.sha}"
            )
        self.commit = self.git(self.clone, "rev-parse", "HEAD").strip()
        missing = [name for name in REQUIRED if not (self.clone / name).is_file()]
        if missing and self.source == "head":
            raise Failure(
                f"committed HEAD {self.sha[:7]} lacks: {' '.join(missing)} (commit them, or "
                "rehearse the working tree with REHEARSE_SOURCE=worktree)"
            )
        if missing:
            raise Failure(f"the working tree lacks: {' '.join(missing)}")
        say(f"image tags: :{self.tag} and :latest")

    def engine(self) -> None:
        status = self.container_env("status", timeout=60, capture=True, echo=False).stdout
        found = bool(re.search(r"^dockerd:\s+running", status, re.M))
        self.engine_started = not found
        self.container_env("up")
        say(
            "the Docker engine was running: it stays running"
            if found
            else "started the Docker engine: it is stopped at the end"
        )
        exports = self.container_env("env", timeout=30, capture=True, echo=False).stdout
        for line in exports.splitlines():
            if match := re.match(r"export (\w+)=(.*)$", line):
                os.environ[match[1]] = match[2].strip("'\"")
            elif line.startswith("unset "):
                for name in line.split()[1:]:
                    os.environ.pop(name, None)
        self.docker("version", "-f", "engine {{.Server.Version}}")
        self.engine_ready = True
        self.base_image = os.environ["BASE_IMAGE"]
        self.registry = os.environ["LOCAL_REGISTRY"]
        say(
            f"DOCKER_HOST={os.environ['DOCKER_HOST']}, BASE_IMAGE={self.base_image}, "
            f"LOCAL_REGISTRY={self.registry}"
        )
        if not self.image_exists(self.base_image):
            raise Failure(f"base image {self.base_image} is missing after 'container_env.sh up'")
        if self.registry_answers():
            say(f"the local registry already runs on {self.registry} (left running at the end)")
        else:
            self.container_env("registry-up", timeout=120)
            self.registry_started = True
        if not self.registry_answers():
            raise Failure(f"the local registry does not answer on http://{self.registry}/v2/")
        self.repo_ref = f"{self.registry}/{self.namespace}/{IMAGE_NAME}"

    def mlflow_server(self) -> None:
        """The workflow runs the official image ghcr.io/mlflow/mlflow:v<pin>, which no registry
        reachable from here serves: the same version's `mlflow server` from the venv instead,
        with the same options, on a free loopback port."""
        assert self.work is not None
        workflow = (self.clone / ".github" / "workflows" / "ci.yml").read_text()
        match = re.search(r"ghcr\.io/mlflow/mlflow:v([0-9][0-9A-Za-z.+-]*)", workflow)
        if not match:
            raise Failure("no ghcr.io/mlflow/mlflow:v<version> image in .github/workflows/ci.yml")
        image, pin = match[0], match[1]
        venv_mlflow = self.run(
            [
                self.tool("python"),
                "-c",
                "import importlib.metadata as m; print(m.version('mlflow'))",
            ],
            60,
            capture=True,
            echo=False,
        ).stdout.strip()
        pinned = re.search(
            r"^mlflow==([^\s;#]+)", (self.clone / "requirements.txt").read_text(), re.M
        )
        required = pinned[1] if pinned else "?"
        say(
            f"workflow image {image}, requirements.txt mlflow=={required}, "
            f"venv mlflow {venv_mlflow}"
        )
        if venv_mlflow != pin:
            raise Failure(f"the venv's mlflow {venv_mlflow} is not the workflow's {image}")
        if required != pin:
            raise Failure(f"requirements.txt pins mlflow=={required}, the workflow runs {image}")
        self.facts["mlflow"] = f"{venv_mlflow} (venv) for {image}"
        home = self.work / "mlflow"
        home.mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        hosts = f"127.0.0.1,127.0.0.1:{port},localhost,localhost:{port}"
        command = [
            self.tool("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{home / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(home / "artifacts"),
            "--allowed-hosts",
            hosts,
            "--workers",
            "1",
        ]
        self.mlflow_log = home / "server.log"
        self.mlflow = spawn(command, self.mlflow_log, dict(os.environ), home)
        say(f"mlflow server pid {self.mlflow.pid} on {url} (log: {self.mlflow_log})")
        # The workflow's "Wait for MLflow" step, verbatim but for the port.
        wait = [self.tool("python"), str(self.clone / "scripts" / "wait_for_http.py")]
        self.run([*wait, f"{url}/health", "--timeout", str(MLFLOW_HEALTH_TIMEOUT)], 120)
        search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
        self.run([*wait, search, "--timeout", str(MLFLOW_API_TIMEOUT)], 120)
        if self.mlflow.poll() is not None:
            raise Failure("the MLflow server answering is not the one started here (it exited)")
        self.mlflow_url = url

    def s3_server(self) -> None:
        assert self.work is not None
        home = self.work / "s3"
        home.mkdir()
        self.s3, self.s3_url = start_s3_server(home, home / "moto.log", buckets=(BUCKET,))
        say(f"s3 server pid {self.s3.pid} on {self.s3_url}, bucket '{BUCKET}' (empty)")

    def dvc_env(self, clone: Path) -> dict[str, str]:
        """What the workflow's steps see: the venv first, the clone's package ahead of the
        venv's editable install of this repository."""
        path = f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "PATH": path, "PYTHONPATH": str(clone / "src")}

    def dvc(self, clone: Path, *args: str, timeout: float = DVC_TIMEOUT, **kw):
        return self.run(
            [self.tool("dvc"), *args], timeout, cwd=clone, env=self.dvc_env(clone), **kw
        )

    def ci_run(self, number: int, clone: Path) -> list[str]:
        """The reproduce job's DVC steps with a remote, as on a push to main; returns the
        stages that ran."""
        self.step(f"dvc remote (run {number})")
        self.dvc(
            clone, "remote", "add", "--local", "--force", "--default", "ci", f"s3://{BUCKET}/dvc"
        )
        for option, value in s3_remote_options(self.s3_url).items():
            self.dvc(clone, "remote", "modify", "--local", "ci", option, value)
        self.step(f"dvc pull (run {number})")
        started = time.monotonic()
        self.dvc(clone, *CI_DVC_PULL)
        self.step(f"dvc repro (run {number})")
        package = self.run(
            [self.tool("python"), "-c", "import house_price; print(house_price.__file__)"],
            60,
            cwd=clone,
            env=self.dvc_env(clone),
            capture=True,
            echo=False,
        ).stdout.strip()
        if not package.startswith(str(clone / "src")):
            raise Failure(f"the stages would import house_price from {package}, not the clone")
        env = {**self.dvc_env(clone), "MLFLOW_TRACKING_URI": self.mlflow_url}
        output = self.run(
            [self.tool("dvc"), *CI_DVC_REPRO], self.repro_timeout, cwd=clone, env=env, capture=True
        ).stdout
        took = time.monotonic() - started
        ran = re.findall(r"^Running stage '([^']+)'", output, re.M)
        say(
            f"run {number}: dvc pull + dvc repro took {seconds(took)}; stages run: "
            f"{', '.join(ran) or 'none'}"
        )
        self.facts[f"run {number}"] = (
            f"{seconds(took)} pull + repro, ran: {', '.join(ran) or 'none'}"
        )
        return ran

    def run_1(self) -> None:
        ran = self.ci_run(1, self.clone)
        committed = self.git(self.clone, "show", "HEAD:dvc.lock")
        differ = self.lock_differences(committed, (self.clone / "dvc.lock").read_text())
        if differ:
            say(f"outputs that differ from the committed dvc.lock: {', '.join(differ)}")
        else:
            say("all outputs reproduced the committed dvc.lock bit for bit")
        self.step("dvc metrics (run 1)")
        metrics = self.dvc(self.clone, "metrics", "show", "--md", capture=True).stdout
        if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(summary, "a") as handle:
                handle.write(metrics)
        bundle = self.clone / "models" / "house-price"
        if not bundle.is_dir() or not any(bundle.iterdir()):
            raise Failure("no model bundle in models/house-price after dvc repro")
        self.step("dvc push (run 1)")
        self.dvc(self.clone, *CI_DVC_PUSH)
        if not ran:
            say("run 1 ran no stage: the remote already held everything (a rehearsal before?)")

    @staticmethod
    def lock_differences(old_text: str, new_text: str) -> list[str]:
        import yaml

        def outs(text: str) -> dict[str, str]:
            lock = yaml.safe_load(text) or {}
            return {
                out["path"]: out.get("md5", "")
                for stage in lock.get("stages", {}).values()
                for out in stage.get("outs", [])
            }

        old, new = outs(old_text), outs(new_text)
        return sorted(path for path in new if old.get(path) != new[path])

    def run_2(self) -> None:
        assert self.work is not None
        self.step("checkout (run 2)")
        self.clone2 = self.work / "repo-run2"
        self.git(self.work, "clone", "--quiet", "--no-checkout", str(self.clone), str(self.clone2))
        self.git(self.clone2, "checkout", "--quiet", "--detach", self.commit)
        ran = self.ci_run(2, self.clone2)
        if ran:
            raise Failure(
                f"run 2 reproduced {', '.join(ran)}: a fresh clone with the remote run 1 pushed "
                "must reproduce nothing (is dvc.lock committed for this code?)"
            )
        changed = self.git(self.clone2, "status", "--porcelain", "--", "dvc.lock").strip()
        if changed:
            raise Failure("run 2 changed dvc.lock")
        differ = self.lock_differences(
            (self.clone / "dvc.lock").read_text(), (self.clone2 / "dvc.lock").read_text()
        )
        if differ:
            raise Failure(f"run 2's outputs differ from run 1's: {', '.join(differ)}")
        say("run 2 reproduced nothing: every output came from the remote, as run 1 made it")

    def image_exists(self, ref: str) -> bool:
        result = self.run(
            ["docker", "image", "inspect", ref],
            DOCKER_TIMEOUT,
            capture=True,
            check=False,
            echo=False,
        )
        return result.returncode == 0

    def registry_answers(self) -> bool:
        try:
            with _OPENER.open(f"http://{self.registry}/v2/", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def registry_digest(self, reference: str) -> str:
        accept = ", ".join(
            [
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            ]
        )
        url = f"http://{self.registry}/v2/{self.namespace}/{IMAGE_NAME}/manifests/{reference}"
        request = urllib.request.Request(url, method="HEAD", headers={"Accept": accept})
        with _OPENER.open(request, timeout=10) as response:
            return response.headers.get("Docker-Content-Digest", "")

    def verify_pushed(self, digest: str) -> None:
        """The registry serves the manifest under `digest` and every blob it names, each with
        the right sha256 and size. `docker pull` cannot prove that here: the engine's build
        cache still holds the layers after `docker rmi`."""
        base = f"http://{self.registry}/v2/{self.namespace}/{IMAGE_NAME}"
        accept = (
            "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json"
        )
        url = f"{base}/manifests/{digest}"
        request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 (loopback)
        with _OPENER.open(request, timeout=60) as response:
            body = response.read()
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise Failure(f"the manifest served for {digest} does not hash to it")
        manifest = json.loads(body)
        blobs = [manifest["config"], *manifest["layers"]]
        total = 0
        deadline = time.monotonic() + self.push_timeout
        for blob in blobs:
            sha, size = hashlib.sha256(), 0
            with _OPENER.open(f"{base}/blobs/{blob['digest']}", timeout=60) as response:
                while chunk := response.read(1 << 20):
                    sha.update(chunk)
                    size += len(chunk)
            if "sha256:" + sha.hexdigest() != blob["digest"] or size != blob["size"]:
                raise Failure(f"blob {blob['digest']} came back as sha256:{sha.hexdigest()}")
            total += size
            if time.monotonic() > deadline:
                raise Failure(f"checking the pushed blobs took over {self.push_timeout}s")
        say(
            f"the registry serves manifest {digest} and its {len(blobs)} blobs "
            f"({total / 1e6:.0f} MB compressed), every sha256 and size checked"
        )

    def build(self) -> None:
        assert self.work is not None
        self.step("docker build")
        context = self.work / "image-context"
        self.git(self.work, "clone", "--quiet", "--no-checkout", str(self.clone), str(context))
        self.git(context, "checkout", "--quiet", "--detach", self.commit)
        (context / "models").mkdir(exist_ok=True)
        shutil.copytree(self.clone2 / "models" / "house-price", context / "models" / "house-price")
        self.sha_tag = f"{self.repo_ref}:{self.tag}"
        self.latest_tag = f"{self.repo_ref}:latest"
        self.images += [self.sha_tag, self.latest_tag]
        iid = self.work / "image.id"
        self.run(
            [
                "docker",
                "build",
                "--progress",
                "plain",
                "--network",
                "host",
                "--build-arg",
                f"BASE_IMAGE={self.base_image}",
                "--label",
                f"org.opencontainers.image.source=file://{REPO}",
                "--label",
                f"org.opencontainers.image.revision={self.sha}",
                "--iidfile",
                str(iid),
                "-t",
                self.sha_tag,
                "-t",
                self.latest_tag,
                str(context),
            ],
            self.build_timeout,
        )
        self.image_id = iid.read_text().strip()
        size = int(self.docker("image", "inspect", "-f", "{{.Size}}", self.image_id).strip())
        self.facts["image size"] = f"{size // 1_000_000} MB"
        say(f"built {self.image_id} ({size // 1_000_000} MB) as {self.sha_tag} and :latest")

    def run_api(self, name: str, image: str) -> None:
        env_list = self.docker(
            "image", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", image
        )
        entry = self.docker(
            "image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", image
        )
        args: list[str] = []
        if re.search(r"^PORT=", env_list, re.M):
            self.api_port = free_port()
            args += ["-e", f"PORT={self.api_port}"]
            say(f"the image reads PORT: serving on free port {self.api_port}")
        else:
            self.api_port = 8000
            say("the image has no PORT setting: serving on 8000")
        if re.search(r"^HOST=|\$\{?HOST([^A-Za-z0-9_]|$)", env_list + "\n" + entry, re.M):
            args += ["-e", "HOST=127.0.0.1"]
            say("the image reads HOST: binding 127.0.0.1")
        else:
            warn("the image has no HOST setting: on --network host it listens on every interface")
        self.containers.append(name)
        self.run_t0 = time.monotonic()
        # --network host: the engine runs without a bridge (scripts/container_env.sh), so -p
        # maps nothing; the workflow's -p 127.0.0.1:8000:8000 becomes the host's network here.
        self.docker(
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "--label",
            f"house-price.rehearsal={self.run_id}",
            *args,
            image,
        )
        say(f"started container {name} from {image}")

    def show_logs(self, name: str) -> None:
        if name in self.logs_shown:
            return
        self.logs_shown.add(name)
        print(f"--- logs of container {name} ---", flush=True)
        result = self.run(["docker", "logs", name], DOCKER_TIMEOUT, capture=True, check=False)
        if result.returncode != 0:
            print(f"(no logs: container {name} absent)", flush=True)
        print(f"--- end of logs of {name} ---", flush=True)

    def smoke(self, name: str) -> float:
        """The workflow's smoke test, then its "Container logs" and "Stop the container" steps
        (always); returns seconds from docker run to /health 200."""
        started = time.monotonic()
        try:
            output = self.run(
                [
                    self.tool("python"),
                    str(self.clone / "scripts" / "smoke_test.py"),
                    f"http://127.0.0.1:{self.api_port}",
                    "--timeout",
                    str(SMOKE_HEALTH_TIMEOUT),
                ],
                SMOKE_TIMEOUT,
                capture=True,
            ).stdout
        finally:
            self.show_logs(name)
            self.run(
                ["docker", "rm", "-f", name], DOCKER_TIMEOUT, capture=True, check=False, echo=False
            )
        match = re.search(r"^\[health\] 200 after ([0-9.]+)s", output, re.M)
        healthy = started - self.run_t0 + (float(match[1]) if match else 0.0)
        say(f"healthy {seconds(healthy)} after docker run")
        return healthy

    def image_steps(self) -> None:
        self.build()
        self.step("run (built image)")
        self.run_api(f"rehearse-api-built-{self.run_id}", self.sha_tag)
        self.step("smoke test (built image)")
        built = self.smoke(f"rehearse-api-built-{self.run_id}")

        self.step("push")
        for ref in (self.sha_tag, self.latest_tag):
            self.run(["docker", "push", ref], self.push_timeout)
        digests = self.docker(
            "image", "inspect", "-f", "{{range .RepoDigests}}{{println .}}{{end}}", self.image_id
        ).split()
        prefix = f"{self.repo_ref}@"
        pushed = next((d[len(prefix) :] for d in digests if d.startswith(prefix)), "")
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", pushed):
            raise Failure(f"no pushed digest for {self.repo_ref} in the image's RepoDigests")
        self.pushed_digest = pushed
        for tag in (self.tag, "latest"):
            remote = self.registry_digest(tag)
            if remote != pushed:
                raise Failure(f"the registry serves {remote or 'nothing'} for :{tag}, not {pushed}")
        say(f"pushed :{self.tag} and :latest, both {pushed} (checked against the registry)")
        self.verify_pushed(pushed)

        self.step("pull by digest")
        digest_ref = f"{self.repo_ref}@{pushed}"
        self.docker("rmi", self.sha_tag, self.latest_tag)
        if self.image_exists(self.image_id):
            warn(f"image {self.image_id} is still present under other names; the pull reuses it")
        else:
            say(f"removed the local image {self.image_id}")
        self.images.append(digest_ref)
        self.run(["docker", "pull", digest_ref], self.push_timeout)
        pulled = self.docker("image", "inspect", "-f", "{{.Id}}", digest_ref).strip()
        if pulled != self.image_id:
            raise Failure(f"pulled image {pulled} is not the built image {self.image_id}")
        say(f"pulled {digest_ref}: image {pulled}, the one that was built")
        self.step("run (pulled image)")
        self.run_api(f"rehearse-api-pulled-{self.run_id}", digest_ref)
        self.step("smoke test (pulled image)")
        again = self.smoke(f"rehearse-api-pulled-{self.run_id}")
        self.facts["image"] = f"{self.sha_tag} (and :latest), pushed and pulled back"
        self.facts["digest"] = pushed
        self.facts["healthy after"] = f"{seconds(built)} (built), {seconds(again)} (pulled)"

    def main(self) -> None:
        self.step("preflight")
        self.preflight()
        self.step("checkout")
        self.checkout()
        self.step("container engine")
        self.engine()
        self.step("mlflow server")
        self.mlflow_server()
        self.step("s3 server")
        self.s3_server()
        self.run_1()
        self.run_2()
        self.image_steps()
        self.end_step("ok")

    # --- cleanup -----------------------------------------------------------------------------

    def cleanup(self, failed: bool) -> bool:
        """Stop and remove what this run started, each by its id; True if all went."""
        ok = True

        def attempt(what: str, action) -> None:
            nonlocal ok
            try:
                action()
            except (Failure, OSError, subprocess.SubprocessError) as exc:
                warn(f"{what}: {exc}")
                ok = False

        for child in list(self.children):
            attempt("a command", lambda child=child: stop_process_group(child, timeout=10))
        if self.engine_ready:
            for name in self.containers:
                inspect = ["docker", "container", "inspect", name]
                if (
                    self.run(
                        inspect, DOCKER_TIMEOUT, capture=True, check=False, echo=False
                    ).returncode
                    == 0
                ):
                    self.show_logs(name)
                    attempt(f"removing container {name}", lambda n=name: self.docker("rm", "-f", n))
        if self.mlflow is not None:
            if failed and self.step_name.startswith(("mlflow server", "dvc repro")):
                tail = self.mlflow_log.read_text(errors="replace").splitlines()[-30:]
                print("--- last lines of the MLflow server log ---", *tail, sep="\n")
                print("--- end of the MLflow server log ---", flush=True)
            if self.mlflow.poll() is None:
                say(f"stopping the MLflow server (process group {self.mlflow.pid})")
            attempt("stopping the MLflow server", lambda: stop_process_group(self.mlflow, 20))
        if self.s3 is not None:
            say(f"stopping the S3 server (process group {self.s3.pid})")
            attempt("stopping the S3 server", lambda: stop_process_group(self.s3, 20))
        if self.engine_ready:
            for ref in self.images:
                if self.image_exists(ref):
                    attempt(f"removing image {ref}", lambda r=ref: self.docker("rmi", r))
            if self.pushed_digest and not self.keep and self.registry_answers():
                # Deleting the manifest drops both tags; blobs stay until garbage collection.
                url = f"http://{self.registry}/v2/{self.namespace}/{IMAGE_NAME}/manifests/{self.pushed_digest}"
                request = urllib.request.Request(url, method="DELETE")
                attempt(
                    "deleting the pushed manifest",
                    lambda: _OPENER.open(request, timeout=30).close(),
                )
        if self.registry_started:
            attempt("registry-down", lambda: self.container_env("registry-down", timeout=120))
        if self.engine_started:
            say("stopping the Docker engine this rehearsal started")
            attempt("stopping the Docker engine", lambda: self.container_env("down", timeout=300))
        elif self.engine_ready:
            answers = self.run(["docker", "info"], 30, capture=True, check=False, echo=False)
            if answers.returncode == 0:
                say("left the Docker engine it found running; it answers")
            else:
                warn("the Docker engine it found no longer answers 'docker info'")
                ok = False
        if self.work is not None and self.work.is_dir():
            if self.keep:
                say(f"REHEARSE_KEEP=1: kept {self.work}")
            else:
                attempt(f"removing {self.work}", lambda: shutil.rmtree(self.work))
        return ok

    def summary(self) -> None:
        print(f"\n==> summary (t+{seconds(time.monotonic() - self.t0)})")
        source = (
            f"committed HEAD {self.sha}"
            if self.source == "head"
            else f"working tree on HEAD {self.sha} (copy commit {self.commit})"
        )
        print(f"  {'source':<14} {source}")
        for name, value in self.facts.items():
            print(f"  {name:<14} {value}")
        print("  steps", *[f"    {line}" for line in self.times], sep="\n", flush=True)


def main() -> int:
    if len(sys.argv) > 1:
        if sys.argv[1] in ("-h", "--help"):
            print(__doc__)
            return 0
        print(
            f"{PROG}: no arguments expected (see --help); got: {' '.join(sys.argv[1:])}",
            file=sys.stderr,
        )
        return 2
    sys.stdout.reconfigure(line_buffering=True)

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rehearsal = Rehearsal()
    status = 0
    try:
        rehearsal.main()
    except Failure as exc:
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
        status = 1
    except Stopped as exc:
        print(f"{PROG}: stopped by {exc}", file=sys.stderr, flush=True)
        status = exc.code
    except Exception:
        traceback.print_exc()
        status = 1
    failed_step = rehearsal.step_name
    if status:
        rehearsal.end_step(f"FAILED (exit {status})")
        print(f"{PROG}: step '{failed_step}' failed (exit {status}); cleaning up", flush=True)
    # No second interruption during the cleanup: it is bounded, and it must finish.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(f"\n==> cleanup (t+{seconds(time.monotonic() - rehearsal.t0)})", flush=True)
    if not rehearsal.cleanup(failed=bool(status)):
        warn("cleanup left something behind (see above)")
        if not status:
            status, failed_step = 1, "cleanup"
    took = seconds(time.monotonic() - rehearsal.t0)
    if status:
        print("\nsteps", *[f"  {line}" for line in rehearsal.times], sep="\n", file=sys.stderr)
        print(
            f"\n{PROG}: FAILED at step '{failed_step}' (exit {status}) after {took}",
            file=sys.stderr,
            flush=True,
        )
    else:
        rehearsal.summary()
        print(f"\n{PROG}: OK in {took}, everything it started stopped and removed", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
