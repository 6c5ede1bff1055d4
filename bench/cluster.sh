#!/usr/bin/env bash
# Fan-out through two Switchboard processes sharing Redis against one, both behind nginx
# (deploy/nginx/switchboard.conf without ip_hash: WebSocket-only clients need no stickiness,
# so nginx spreads them round-robin). Prints one JSON line per round and a summary.
#
#   bench/cluster.sh [--rounds 3] [--clients 1000] [--messages 2000]
#
# Needs the release binaries (bench/run.sh builds them), nginx and Redis on 127.0.0.1:6379.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS=3 CLIENTS=1000 MESSAGES=2000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --messages) MESSAGES="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
SERVER="$ROOT/target/release/switchboard"
LOADGEN="$ROOT/bench/loadgen/target/release/loadgen"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
OUT="$ROOT/bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.1; done; return 1; }

# One round: N processes behind nginx, the fan-out scenario through nginx.
round() {
  local processes=$1 round=$2 prefix="sbbench-$$-$1-$2" pids=() ports=() dir
  for _ in $(seq "$processes"); do
    local port; port=$(free_port)
    RUST_LOG=warn "$SERVER" --addr "127.0.0.1:$port" --redis-url redis://127.0.0.1:6379 --redis-prefix "$prefix" \
      --rate-limit 1000000 --rate-burst 1000000 --ip-connect-rate 0 --max-connections 0 \
      --static-dir /nonexistent >"$OUT/server-$processes-$round-$port.log" 2>&1 &
    pids+=($!) ports+=("$port")
  done
  for port in "${ports[@]}"; do wait_http "$port"; done
  dir=$(mktemp -d) ; local listen; listen=$(free_port)
  sed -e '/ip_hash;/d' -e '/server 127.0.0.1:/d' -e "s/listen [0-9]*;/listen 127.0.0.1:$listen;/" \
    "$ROOT/deploy/nginx/switchboard.conf" > "$dir/switchboard.conf"
  local servers=""; for port in "${ports[@]}"; do servers+="    server 127.0.0.1:$port;\n"; done
  sed -i "s/^upstream switchboard {/upstream switchboard {\n$servers/" "$dir/switchboard.conf"
  cat > "$dir/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log warn;
events { worker_connections 8192; }
http { access_log off; client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  include $dir/switchboard.conf; }
CONF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" & local nginx_pid=$!
  wait_http "$listen"
  "$LOADGEN" --addr "127.0.0.1:$listen" --label "processes=$processes" --round "$round" \
    fanout --clients "$CLIENTS" --messages "$MESSAGES" 2>"$OUT/loadgen-$processes-$round.log" | tail -n 1 | tee -a "$OUT/fanout.jsonl"
  kill "$nginx_pid" "${pids[@]}" 2>/dev/null || true
  wait "$nginx_pid" "${pids[@]}" 2>/dev/null || true
  redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli del >/dev/null
  rm -rf "$dir"
}

for r in $(seq "$ROUNDS"); do
  round 1 "$r"
  round 2 "$r"
done
python3 - "$OUT/fanout.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def pick(label, key):
    return [row.get(key) for row in rows if row.get("server") == label and row.get(key) is not None]
for key in ("deliveries_per_s", "lost", "duplicates"):
    one, two = pick("processes=1", key), pick("processes=2", key)
    if one and two:
        m1, m2 = statistics.median(one), statistics.median(two)
        ratio = f"{m2 / m1:.2f}x" if m1 else "-"
        print(f"{key}: one process {m1:,.0f}  two processes {m2:,.0f}  (two / one = {ratio})")
PY
