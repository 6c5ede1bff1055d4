#!/usr/bin/env bash
# Starts the local services the test suites use, if they are not already running, and waits
# for their ports. Idempotent. Redis: 6379. RabbitMQ: 5672, with STOMP (61613) and Web-STOMP
# (15674) plugins enabled.
set -euo pipefail

wait_port() { # host port seconds
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if (( SECONDS > deadline )); then echo "services: $1:$2 did not open within $3 s" >&2; return 1; fi
    sleep 0.5
  done
}

if command -v redis-server >/dev/null; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "services: starting redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
  wait_port 127.0.0.1 6379 30
else
  echo "services: redis-server is not installed" >&2
fi

if command -v rabbitmq-server >/dev/null; then
  if ! rabbitmqctl status >/dev/null 2>&1; then
    echo "services: starting rabbitmq"
    rabbitmq-server -detached
    wait_port 127.0.0.1 5672 120
    rabbitmqctl await_startup >/dev/null 2>&1 || true
  fi
  rabbitmq-plugins enable rabbitmq_stomp rabbitmq_web_stomp >/dev/null
  wait_port 127.0.0.1 61613 60
  wait_port 127.0.0.1 15674 60
else
  echo "services: rabbitmq-server is not installed" >&2
fi
