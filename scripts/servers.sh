# Throwaway Redis and PostgreSQL servers on loopback, for the test suite and benchmarks.
# Source this file, then: start_servers; ...; stop_servers.
# Exports BULK_TEST_REDIS_URL and BULK_TEST_DATABASE_URL. Ports can be moved with
# BULK_TEST_REDIS_PORT / BULK_TEST_PG_PORT; a port already in use is replaced by a free one. PostgreSQL refuses to run as root, so as root the
# cluster is created and run as the `postgres` user in a temporary directory.

_free_port() {
  # the given port if nothing listens on it, else one the kernel picks (parallel runs, leftovers)
  python3 - "$1" <<'PY'
import socket, sys
want = int(sys.argv[1])
for port in (want, 0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        continue
    finally:
        s.close()
PY
}

_pg_bin() {
  # initdb/pg_ctl may be on PATH or only under /usr/lib/postgresql/<ver>/bin.
  # (explicit `return 0`: a bare `return` in a function called from an EXIT trap returns the status
  # the script was exiting with, and under `set -e` a failed test run then skipped stop_servers)
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_servers() {
  BULK_TEST_REDIS_PORT="$(_free_port "${BULK_TEST_REDIS_PORT:-6390}")"
  BULK_TEST_PG_PORT="$(_free_port "${BULK_TEST_PG_PORT:-5439}")"
  BULK_SERVERS_DIR="$(mktemp -d /tmp/bulk-servers.XXXXXX)"
  export BULK_SERVERS_DIR
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server not found: install it (apt-get install -y redis-server)" >&2; return 1
  fi
  redis-server --port "$BULK_TEST_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$BULK_SERVERS_DIR/redis.pid" --logfile "$BULK_SERVERS_DIR/redis.log" \
    --databases 64
  local bin; bin="$(_pg_bin)"
  if [ -z "$bin" ]; then echo "PostgreSQL binaries (initdb, pg_ctl) not found" >&2; return 1; fi
  mkdir -p "$BULK_SERVERS_DIR/pg"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$BULK_SERVERS_DIR"; chmod 755 "$BULK_SERVERS_DIR"; fi
  _as_pg "$bin/initdb" -D "$BULK_SERVERS_DIR/pg/data" -U postgres --auth=trust -E UTF8 >"$BULK_SERVERS_DIR/initdb.log"
  _as_pg "$bin/pg_ctl" -D "$BULK_SERVERS_DIR/pg/data" -l "$BULK_SERVERS_DIR/pg/log" -w \
    -o "-p $BULK_TEST_PG_PORT -c listen_addresses=127.0.0.1 -k $BULK_SERVERS_DIR/pg -c fsync=off -c max_connections=200" start >/dev/null
  for _ in $(seq 50); do
    redis-cli -p "$BULK_TEST_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1
  done
  export BULK_TEST_REDIS_URL="redis://127.0.0.1:$BULK_TEST_REDIS_PORT/0"
  export BULK_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$BULK_TEST_PG_PORT/postgres"
  echo "servers: redis $BULK_TEST_REDIS_URL, postgres $BULK_TEST_DATABASE_URL"
}

stop_servers() {
  [ -n "${BULK_SERVERS_DIR:-}" ] || return 0
  local bin; bin="$(_pg_bin)" || true
  _as_pg "$bin/pg_ctl" -D "$BULK_SERVERS_DIR/pg/data" -m immediate stop >/dev/null 2>&1 || true
  if [ -f "$BULK_SERVERS_DIR/redis.pid" ]; then kill "$(cat "$BULK_SERVERS_DIR/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$BULK_SERVERS_DIR"
}
