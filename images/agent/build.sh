#!/usr/bin/env bash
# Builds the agent release binary: the one command the Dockerfile runs, and that
# scripts/test-infra runs outside Docker to check it (no Docker engine there).
# Usage: images/agent/build.sh [OUT_DIR]   (copies the binary to OUT_DIR/agent)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p agent --bin agent
if [ -n "${1:-}" ]; then
  mkdir -p "$1"
  cp "${CARGO_TARGET_DIR:-target}/release/agent" "$1/agent"
fi
