#!/usr/bin/env bash
# Runs every test of tenantql on a fresh Debian machine that has the Rust toolchain.
#
# It installs what the tests need from the distribution's packages (PostgreSQL for
# the control-plane tests and the PostgreSQL tenants, Redis for the tests of
# instances sharing state, OpenSSH's server as the SSH bastion of the tunnel
# tests, Chromium and ChromeDriver for the browser tests, Node.js and npm for the
# Apollo Client test, whose packages it installs into tests/js), starts PostgreSQL on
# 127.0.0.1 on a free port with its data in a temporary directory, runs the
# formatting and lint checks and the whole test suite against it, and stops it by
# its PID when done, pass or fail. Each Redis test starts its own redis-server, and
# each tunnel test its own sshd (generated host and client keys, its own config),
# on a free loopback port; the test may kill and restart it, and stops it by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

find_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# --- what the tests need ----------------------------------------------------------
missing=()
[ -n "$(find_pg_bin)" ] || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} from the distribution's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PG_BIN="$(find_pg_bin)"
# Real GraphQL clients the tests run with node (Apollo Client), from the npm registry.
log "npm ci --prefix tests/js"
npm ci --prefix tests/js --no-audit --no-fund --loglevel=error >/dev/null
[ -x "$PG_BIN/pg_ctl" ] || { echo "PostgreSQL binaries not found after install" >&2; exit 1; }

# --- a throw-away PostgreSQL on loopback --------------------------------------------
WORK="$(mktemp -d /tmp/tenantql-test.XXXXXX)"
PG_PID=""
cleanup() {
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    kill -INT "$PG_PID" 2>/dev/null || true   # fast shutdown
    for _ in $(seq 1 50); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PG_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free port found" >&2; return 1
}

# PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK"; fi

PG_PORT="$(free_port)"
log "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$PG_PORT"
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK -c fsync=off -c synchronous_commit=off -c max_connections=200" \
  start >/dev/null || { cat "$WORK/pg.log" >&2; exit 1; }
PG_PID="$(head -n 1 "$WORK/pg/postmaster.pid")"

export TENANTQL_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT"
# Every suite must run here: a missing service is a failure, not a skip.
export TENANTQL_TEST_REQUIRE_ALL=1

# --- checks and tests --------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
set +e
cargo test --workspace --locked 2>&1 | tee "$WORK/test.log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary, the last
# being the doc-tests, which has none).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$WORK/test.log"
exit "$status"
