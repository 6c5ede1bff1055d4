#!/usr/bin/env bash
# Builds the demo app and runs the server on the embedded defaults (in-memory history,
# single process, STOMP bridge off) at http://localhost:3000. Extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."

npm --prefix client-demo ci --no-audit --no-fund
npm --prefix client-demo run build
exec cargo run --release --bin switchboard -- "$@"
