"""python -m sandbox.rehearsal: the steps in the workflow's order, then the cleanup."""

from __future__ import annotations

import signal
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial

from . import __doc__ as usage
from . import checkout, cleanup, dvc_runs, engine, image, mlflow_server, registry, s3_server
from .context import PROG, Failure, Run, Stopped, seconds, warn

STEPS: list[tuple[str, Callable[[Run], None]]] = [
    ("preflight", checkout.preflight),
    ("checkout", checkout.checkout),
    ("container engine", engine.start),
    ("mlflow server", mlflow_server.start),
    ("s3 server", s3_server.start),
    ("dvc remote (run 1)", partial(dvc_runs.remote, number=1)),
    ("dvc pull (run 1)", partial(dvc_runs.pull, number=1)),
    ("dvc repro (run 1)", partial(dvc_runs.repro, number=1)),
    ("dvc metrics (run 1)", dvc_runs.metrics),
    ("dvc push (run 1)", dvc_runs.push),
    ("checkout (run 2)", dvc_runs.checkout_2),
    ("dvc remote (run 2)", partial(dvc_runs.remote, number=2)),
    ("dvc pull (run 2)", partial(dvc_runs.pull, number=2)),
    ("dvc repro (run 2)", partial(dvc_runs.repro, number=2)),
    ("docker build", image.build),
    ("run (built image)", lambda run: image.start(run, "built", run.sha_tag)),
    ("smoke test (built image)", partial(image.smoke, which="built")),
    ("push", registry.push),
    ("pull by digest", registry.pull),
    ("run (pulled image)", lambda run: image.start(run, "pulled", run.pulled_ref)),
    ("smoke test (pulled image)", partial(image.smoke, which="pulled")),
]


def rehearse(run: Run) -> None:
    for name, action in STEPS:
        run.step(name)
        action(run)
    run.end_step("ok")
    run.facts["image"] = f"{run.sha_tag} (and :latest), pushed and pulled back"
    run.facts["digest"] = run.pushed_digest
    run.facts["healthy after"] = f"{run.healthy['built']} (built), {run.healthy['pulled']} (pulled)"


def summary(run: Run) -> None:
    print(f"\n==> summary (t+{seconds(time.monotonic() - run.t0)})")
    source = (
        f"committed HEAD {run.sha}"
        if run.settings.source == "head"
        else f"working tree on HEAD {run.sha} (copy commit {run.commit})"
    )
    print(f"  {'source':<14} {source}")
    for name, value in run.facts.items():
        print(f"  {name:<14} {value}")
    print("  steps", *[f"    {line}" for line in run.times], sep="\n", flush=True)


def main(argv: list[str]) -> int:
    if argv:
        if argv[0] in ("-h", "--help"):
            print(usage)
            return 0
        print(f"{PROG}: no arguments expected (see --help); got: {' '.join(argv)}", file=sys.stderr)
        return 2
    sys.stdout.reconfigure(line_buffering=True)

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    run = Run()
    status = 0
    try:
        rehearse(run)
    except Failure as exc:
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
        status = 1
    except Stopped as exc:
        print(f"{PROG}: stopped by {exc}", file=sys.stderr, flush=True)
        status = exc.code
    except Exception:
        traceback.print_exc()
        status = 1
    failed_step = run.step_name
    if status:
        run.end_step(f"FAILED (exit {status})")
        print(f"{PROG}: step '{failed_step}' failed (exit {status}); cleaning up", flush=True)
    # No second interruption during the cleanup: it is bounded, and it must finish.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(f"\n==> cleanup (t+{seconds(time.monotonic() - run.t0)})", flush=True)
    if not cleanup.cleanup(run, failed=bool(status)):
        warn("cleanup left something behind (see above)")
        if not status:
            status, failed_step = 1, "cleanup"
    took = seconds(time.monotonic() - run.t0)
    if status:
        print("\nsteps", *[f"  {line}" for line in run.times], sep="\n", file=sys.stderr)
        print(
            f"\n{PROG}: FAILED at step '{failed_step}' (exit {status}) after {took}",
            file=sys.stderr,
            flush=True,
        )
    else:
        summary(run)
        print(f"\n{PROG}: OK in {took}, everything it started stopped and removed", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
