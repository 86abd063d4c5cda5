"""push and pull by digest: both tags to the local registry, the manifest and every blob checked
against their digests, the local image removed, pulled back by digest."""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.request

from .context import OPENER, Failure, Run, say, warn

MANIFEST_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]
INDEX_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
]


def push(run: Run) -> None:
    for ref in (run.sha_tag, run.latest_tag):
        run.run(["docker", "push", ref], run.settings.push_timeout)
    digests = run.docker(
        "image", "inspect", "-f", "{{range .RepoDigests}}{{println .}}{{end}}", run.image_id
    ).split()
    prefix = f"{run.repo_ref}@"
    pushed = next((d[len(prefix) :] for d in digests if d.startswith(prefix)), "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", pushed):
        raise Failure(f"no pushed digest for {run.repo_ref} in the image's RepoDigests")
    run.pushed_digest = pushed
    for tag in (run.tag, "latest"):
        served = served_digest(run, tag)
        if served != pushed:
            raise Failure(f"the registry serves {served or 'nothing'} for :{tag}, not {pushed}")
    say(f"pushed :{run.tag} and :latest, both {pushed} (checked against the registry)")
    verify(run, pushed)


def served_digest(run: Run, reference: str) -> str:
    accept = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{run.registry_api}/manifests/{reference}", method="HEAD", headers={"Accept": accept}
    )
    with OPENER.open(request, timeout=10) as response:
        return response.headers.get("Docker-Content-Digest", "")


def verify(run: Run, digest: str) -> None:
    """The registry serves the manifest under `digest` and every blob it names, each with the
    right sha256 and size. `docker pull` cannot prove that here: the engine's build cache still
    holds the layers after `docker rmi`."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{run.registry_api}/manifests/{digest}",
        headers={"Accept": ", ".join(reversed(MANIFEST_TYPES))},
    )
    with OPENER.open(request, timeout=60) as response:
        body = response.read()
    if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
        raise Failure(f"the manifest served for {digest} does not hash to it")
    manifest = json.loads(body)
    blobs = [manifest["config"], *manifest["layers"]]
    total = 0
    deadline = time.monotonic() + run.settings.push_timeout
    for blob in blobs:
        sha, size = hashlib.sha256(), 0
        with OPENER.open(f"{run.registry_api}/blobs/{blob['digest']}", timeout=60) as response:
            while chunk := response.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
        if "sha256:" + sha.hexdigest() != blob["digest"] or size != blob["size"]:
            raise Failure(f"blob {blob['digest']} came back as sha256:{sha.hexdigest()}")
        total += size
        if time.monotonic() > deadline:
            raise Failure(f"checking the pushed blobs took over {run.settings.push_timeout}s")
    say(
        f"the registry serves manifest {digest} and its {len(blobs)} blobs "
        f"({total / 1e6:.0f} MB compressed), every sha256 and size checked"
    )


def pull(run: Run) -> None:
    digest_ref = f"{run.repo_ref}@{run.pushed_digest}"
    run.docker("rmi", run.sha_tag, run.latest_tag)
    if run.image_exists(run.image_id):
        warn(f"image {run.image_id} is still present under other names; the pull reuses it")
    else:
        say(f"removed the local image {run.image_id}")
    run.images.append(digest_ref)
    run.run(["docker", "pull", digest_ref], run.settings.push_timeout)
    pulled = run.docker("image", "inspect", "-f", "{{.Id}}", digest_ref).strip()
    if pulled != run.image_id:
        raise Failure(f"pulled image {pulled} is not the built image {run.image_id}")
    say(f"pulled {digest_ref}: image {pulled}, the one that was built")
    run.pulled_ref = digest_ref


def delete_pushed(run: Run) -> None:
    """Deleting the manifest drops both tags; blobs stay until garbage collection."""
    url = f"{run.registry_api}/manifests/{run.pushed_digest}"
    request = urllib.request.Request(url, method="DELETE")  # noqa: S310 (loopback)
    OPENER.open(request, timeout=30).close()
