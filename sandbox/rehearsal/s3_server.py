"""s3 server: moto's S3 API on a free loopback port with an empty bucket, the DVC remote (as
DVC_REMOTE_URL + DVC_REMOTE_ENDPOINT_URL on a push to main)."""

from __future__ import annotations

from servers import start_s3_server

from .context import Run, say

BUCKET = "rehearsal"


def start(run: Run) -> None:
    assert run.work is not None
    home = run.work / "s3"
    home.mkdir()
    run.s3, run.s3_url = start_s3_server(home, home / "moto.log", buckets=(BUCKET,))
    say(f"s3 server pid {run.s3.pid} on {run.s3_url}, bucket '{BUCKET}' (empty)")
