# Switchboard container image.
#
#   docker build -t switchboard .
#   docker run --rm -p 3000:3000 switchboard
#
# Three stages: the demo app (Node), the server binary (Rust), and a small runtime image that
# runs the binary as an unprivileged user. Configure it with SWITCHBOARD_* environment variables
# (see README.md); flags work too: `docker run switchboard --cors-origin '*'`, but set the
# listen address with SWITCHBOARD_ADDR, not --addr: the HEALTHCHECK reads the variable only.
# tests/container.rs runs the binary with the ENV, ENTRYPOINT and HEALTHCHECK below.

# ---- demo app: client-demo/dist ----
FROM node:20-bookworm-slim AS client
WORKDIR /src/client-demo
# Dependencies first: this layer is reused until the lock file changes.
COPY client-demo/package.json client-demo/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client-demo/ ./
RUN npm run build

# ---- server binary ----
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, built against a placeholder crate: this layer is reused until
# Cargo.toml, Cargo.lock or vendor/ (the patched engineioxide) change.
COPY Cargo.toml Cargo.lock ./
COPY vendor/ vendor/
# Cargo checks that every declared target exists, the micro-benchmarks included.
COPY benches/ benches/
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin switchboard \
    && rm -rf src
COPY src/ src/
# The placeholder build is newer than the copied sources: touch them so cargo rebuilds the crate.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin switchboard \
    && cp target/release/switchboard /usr/local/bin/switchboard

# ---- runtime ----
FROM debian:bookworm-slim AS runtime
RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin switchboard
WORKDIR /app
COPY --from=build /usr/local/bin/switchboard /app/switchboard
COPY --from=client /src/client-demo/dist /app/client-demo/dist
ENV SWITCHBOARD_ADDR=0.0.0.0:3000 \
    SWITCHBOARD_STATIC_DIR=/app/client-demo/dist \
    SWITCHBOARD_LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 3000
# Files stay owned by root and read-only to the server.
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/app/switchboard", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/switchboard"]
