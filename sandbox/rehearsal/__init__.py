"""Rehearse the CI workflow (.github/workflows/ci.yml) on this machine: DVC remote, image push.

    python -m sandbox.rehearsal          (or: make rehearse)

The workflow's steps, in its order, with its scripts and its DVC commands (one module each):
  checkout            a temporary clean clone of the committed HEAD (actions/checkout); the image
                      tag is the commit's short sha (docker/metadata-action type=sha,format=short)
  container engine    sandbox/engine.sh up, its env, registry-up (a local registry on
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

import sys
from pathlib import Path

# tests/servers.py: the server helpers (S3, spawning, stopping) shared with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
