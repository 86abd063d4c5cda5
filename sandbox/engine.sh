#!/usr/bin/env bash
# A private Docker engine, local base image and local registry (see sandbox/README.md).
# Usage: bash sandbox/engine.sh up|packages|env|registry-up|registry-down|down|status
# The logic is in sandbox/engine/ (standard library only: it runs before any venv exists).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHONPATH="$root" exec python3 -P -m sandbox.engine "$@"
