"""A private Docker engine, a local Python base image and a local registry on a Debian 12 machine
where no engine runs and no public registry is reachable (sandbox/README.md).

    bash sandbox/engine.sh up|packages|env|registry-up|registry-down|down|status
    eval "$(bash sandbox/engine.sh env)"   # point the docker client at our engine
    bash sandbox/engine.sh packages        # the engine's Debian packages only (docker.io,
                                           # debootstrap, docker-registry, wrk, curl, compose)

Environment: CONTAINER_STATE_DIR (/var/tmp/house-price-container), BASE_IMAGE
(local/python:3.11), BASE_SUITE (bookworm), DEBIAN_MIRROR (from /etc/apt/sources.list.d),
REGISTRY_PORT (5055 on 127.0.0.1), DOCKERD_START_TIMEOUT / REGISTRY_START_TIMEOUT / STOP_TIMEOUT
(seconds).

Everything it starts is tracked by pidfiles in the state dir; it never signals a process whose
pidfile is missing or whose command line is not ours.
"""
