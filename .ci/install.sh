#!/usr/bin/env bash
# Install and start what the suite needs. Idempotent: safe to run on a machine that has it all.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || python3 -m pip install -q uv==0.13.9
