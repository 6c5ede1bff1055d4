#!/usr/bin/env bash
# Switchboard vs the Node socket.io reference: builds both, runs every scenario in alternating
# rounds (switchboard, node, switchboard, node, ...) with a fresh server process per round,
# collects the load generator's JSON lines in bench/results/<timestamp>/ and summarizes them
# (medians, ratios, summary.md, ratios.svg; copied to bench/latest/). See bench/README.md.
#
#   bench/run.sh [--quick | --full] [--rounds N] [--scenarios connect,fanout,rooms,recovery]
#                [--skip-build]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
MODE=quick
ROUNDS=3
SCENARIOS="connect,fanout,rooms,recovery"
SKIP_BUILD=0

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --rounds) ROUNDS="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# Scenario sizes. Quick fits in ~5 minutes, full in ~10 on a 2-core machine.
if [[ "$MODE" == full ]]; then
  CONNECT_ARGS=(--clients 10000 --polling-clients 1000 --hold-secs 5)
  FANOUT_ARGS=(--clients 1000 --messages 2000 --window 16)
  ROOMS_ARGS=(--clients 1000 --room-size 10 --duration-secs 15 --rate 1)
  RECOVERY_ARGS=(--clients 500 --rate 50 --warmup-ms 2000 --offline-ms 2000 --after-ms 2000)
else
  CONNECT_ARGS=(--clients 2000 --polling-clients 200 --hold-secs 3)
  FANOUT_ARGS=(--clients 300 --messages 1000 --window 16)
  ROOMS_ARGS=(--clients 500 --room-size 10 --duration-secs 10 --rate 1)
  RECOVERY_ARGS=(--clients 200 --rate 50 --warmup-ms 2000 --offline-ms 2000 --after-ms 2000)
fi

# Each side needs one socket per client (10k in full mode) plus a few.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt 12000 ]]; then
  echo "warning: open-file limit $(ulimit -n) is below 12000; the full connect scenario needs more" >&2
fi

BUILT_SWITCHBOARD="$ROOT/target/release/switchboard"
BUILT_LOADGEN="$ROOT/bench/loadgen/target/release/loadgen"
NODE_DIR="$HERE/node-reference"

if [[ "$SKIP_BUILD" == 0 ]]; then
  echo "== building (release): switchboard, switchboard-loadgen" >&2
  (cd "$ROOT" && cargo build --release --locked --bin switchboard \
    && cargo build --release --locked --manifest-path bench/loadgen/Cargo.toml)
  echo "== npm ci (node reference)" >&2
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Switchboard's admission limits that a benchmark from one address would trip (the Node
# reference has none): per-IP session rate (HTTP 429) and the connection cap. Only passed when
# this build has them.
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$HERE/results/$STAMP"
mkdir -p "$OUT/logs" "$OUT/empty-static" "$OUT/bin"

# Run from copies: the target/ dir is shared, and a rebuild during the run must not change the
# binary between rounds.
cp "$BUILT_SWITCHBOARD" "$BUILT_LOADGEN" "$OUT/bin/"
SWITCHBOARD_BIN="$OUT/bin/switchboard"
LOADGEN_BIN="$OUT/bin/loadgen"

SWITCHBOARD_EXTRA=()
if [[ -x "$SWITCHBOARD_BIN" ]]; then
  SB_HELP="$("$SWITCHBOARD_BIN" --help 2>/dev/null || true)"
  if [[ "$SB_HELP" == *--ip-connect-rate* ]]; then SWITCHBOARD_EXTRA+=(--ip-connect-rate 0); fi
  if [[ "$SB_HELP" == *--max-connections* ]]; then SWITCHBOARD_EXTRA+=(--max-connections 0); fi
fi

{
  printf '{"mode":"%s","rounds":%s,"scenarios":"%s","started":"%s",' "$MODE" "$ROUNDS" "$SCENARIOS" "$STAMP"
  printf '"git_rev":"%s","nproc":%s,' "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)"
  printf '"node":"%s","socket_io":"%s",' "$(node --version)" \
    "$(node -p "require('$NODE_DIR/node_modules/socket.io/package.json').version")"
  printf '"rustc":"%s","switchboard_extra_flags":"%s",' "$(rustc --version)" "${SWITCHBOARD_EXTRA[*]}"
  printf '"switchboard_sha256":"%s","tree_dirty":%s,"loadavg_start":"%s",' \
    "$(sha256sum "$SWITCHBOARD_BIN" | cut -c1-16)" \
    "$(cd "$ROOT" && [[ -n "$(git status --porcelain 2>/dev/null)" ]] && echo true || echo false)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '"args":{"connect":"%s","fanout":"%s","rooms":"%s","recovery":"%s"}}\n' \
    "${CONNECT_ARGS[*]}" "${FANOUT_ARGS[*]}" "${ROOMS_ARGS[*]}" "${RECOVERY_ARGS[*]}"
} > "$OUT/meta.json"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

SERVER_PID=""
start_server() { # kind port log
  local kind="$1" port="$2" log="$3"
  if [[ "$kind" == switchboard ]]; then
    # Rate limits out of the way (the Node reference has none); every other setting default.
    RUST_LOG=warn "$SWITCHBOARD_BIN" --addr "127.0.0.1:$port" \
      --rate-limit 1000000 --rate-burst 1000000 --max-payload 1000000 \
      --static-dir "$OUT/empty-static" --log-format json --shutdown-grace-ms 2000 \
      "${SWITCHBOARD_EXTRA[@]}" >"$log" 2>&1 &
  else
    node "$NODE_DIR/server.mjs" --port "$port" --max-payload 1000000 >"$log" 2>&1 &
  fi
  SERVER_PID=$!
  local i
  for i in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "$kind server exited at start; see $log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$kind server not ready after 10 s; see $log" >&2
  return 1
}

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT

scenario_args() {
  case "$1" in
    connect) echo "${CONNECT_ARGS[*]}" ;;
    fanout) echo "${FANOUT_ARGS[*]}" ;;
    rooms) echo "${ROOMS_ARGS[*]}" ;;
    recovery) echo "${RECOVERY_ARGS[*]}" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}

T_START=$SECONDS
IFS=',' read -r -a SCENARIO_LIST <<<"$SCENARIOS"
for scenario in "${SCENARIO_LIST[@]}"; do
  read -r -a args <<<"$(scenario_args "$scenario")"
  for round in $(seq 1 "$ROUNDS"); do
    for kind in switchboard node; do
      tag="$scenario-$kind-$round"
      port="$(free_port)"
      echo "== $tag (port $port, load $(cut -d' ' -f1 /proc/loadavg)) ${args[*]}" >&2
      if ! start_server "$kind" "$port" "$OUT/logs/server-$tag.log"; then
        printf '{"ok":false,"scenario":"%s","server":"%s","round":%s,"error":"server did not start"}\n' \
          "$scenario" "$kind" "$round" >>"$OUT/$scenario.jsonl"
        stop_server
        continue
      fi
      line="$("$LOADGEN_BIN" --addr "127.0.0.1:$port" --label "$kind" --round "$round" \
        --server-pid "$SERVER_PID" "$scenario" "${args[@]}" 2>"$OUT/logs/loadgen-$tag.log" | tail -n 1)" || true
      if [[ -z "$line" ]]; then
        line="$(printf '{"ok":false,"scenario":"%s","server":"%s","round":%s,"error":"loadgen printed nothing"}' \
          "$scenario" "$kind" "$round")"
      fi
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "warning: $kind server died during $tag; see $OUT/logs/server-$tag.log" >&2
      fi
      echo "$line" >>"$OUT/$scenario.jsonl"
      echo "$line" | head -c 400 >&2; echo >&2
      stop_server
      sleep 1
    done
  done
done
echo "== all rounds done in $((SECONDS - T_START)) s" >&2

python3 "$HERE/summarize.py" "$OUT"
if [[ "$SCENARIOS" == "connect,fanout,rooms,recovery" ]]; then
  mkdir -p "$HERE/latest"
  cp "$OUT/summary.md" "$OUT/ratios.svg" "$HERE/latest/"
  echo "== results: $OUT (summary.md, summary.json, ratios.svg); copied to bench/latest/" >&2
else
  echo "== results: $OUT (summary.md, summary.json, ratios.svg); a partial run: bench/latest/ unchanged" >&2
fi
cat "$OUT/summary.md"
