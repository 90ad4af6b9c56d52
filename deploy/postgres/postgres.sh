#!/usr/bin/env bash
# Install, start and stop a private PostgreSQL cluster for Pipewarden (development, tests, benchmarks).
#
#   postgres.sh install   install the server from the distribution's packages when missing (quick no-op)
#   postgres.sh up        initdb (first time), start on 127.0.0.1, create the database, print the URL
#   postgres.sh down      stop the cluster (pg_ctl stop -m fast); no-op when it is not running
#   postgres.sh status    exit 0 when the cluster is running
#   postgres.sh url       print the SQLAlchemy URL
#   postgres.sh run       initdb (first time) and run the server in the foreground (exec; for a process
#                         supervisor such as deploy/local); the caller creates the database
#
# Environment (documented defaults):
#   PIPEWARDEN_PG_DATA_DIR  var/postgres (relative to the repository)  cluster in <dir>/data,
#                           socket in <dir>/run, server log in <dir>/postgres.log
#   PIPEWARDEN_PG_PORT      5433 (never the system server's 5432)
#   PIPEWARDEN_PG_DATABASE  pipewarden
#   PIPEWARDEN_PG_OPTIONS   extra server options passed to `pg_ctl -o` (tests use fsync=off)
#
# PostgreSQL refuses to run as root. When this script runs as root (CI, containers) the cluster is
# owned and run by the `postgres` system user (created when missing); otherwise by the caller.
# Authentication is `trust` on 127.0.0.1 and the socket only: this is a development cluster.
#
# Only the URL goes to stdout; progress goes to stderr, so `url=$(postgres.sh up)` works.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA_ROOT="${PIPEWARDEN_PG_DATA_DIR:-var/postgres}"
case "$DATA_ROOT" in /*) ;; *) DATA_ROOT="$REPO/$DATA_ROOT" ;; esac
PORT="${PIPEWARDEN_PG_PORT:-5433}"
DATABASE="${PIPEWARDEN_PG_DATABASE:-pipewarden}"
EXTRA_OPTIONS="${PIPEWARDEN_PG_OPTIONS:-}"
SUPERUSER="postgres"
PGDATA_DIR="$DATA_ROOT/data"
SOCKET_DIR="$DATA_ROOT/run"
LOG_FILE="$DATA_ROOT/postgres.log"
RUN_USER="postgres"

log() { echo "postgres.sh: $*" >&2; }
die() { echo "postgres.sh: error: $*" >&2; exit 1; }

# The newest server installation: Debian/Ubuntu keep it under /usr/lib/postgresql/<ver>/bin.
find_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"; return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"; return 0
    fi
    return 1
}

cmd_install() {
    if bindir=$(find_bindir); then
        log "PostgreSQL server present in $bindir"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL server binaries (initdb, pg_ctl) are missing; run as root: apt-get install -y postgresql"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL server binaries are missing and apt-get is not available: install PostgreSQL >= 13 by hand"
    log "installing PostgreSQL from the distribution's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir=$(find_bindir) || die "apt-get installed postgresql but initdb/pg_ctl were not found under /usr/lib/postgresql/*/bin"
    log "PostgreSQL server installed in $bindir"
}

# Runs a command as the cluster owner (the `postgres` user when we are root).
as_owner() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$RUN_USER" -- "$@"
    else
        su -s /bin/sh "$RUN_USER" -c "$(printf '%q ' "$@")"
    fi
}

ensure_run_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    if ! id -u "$RUN_USER" >/dev/null 2>&1; then
        log "creating system user $RUN_USER"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER"
    fi
    # The server must be able to reach its data dir: every parent needs search permission for it.
    if ! runuser -u "$RUN_USER" -- test -x "$(dirname "$DATA_ROOT")"; then
        die "user $RUN_USER cannot reach $(dirname "$DATA_ROOT") (a parent directory is not world-searchable); choose another PIPEWARDEN_PG_DATA_DIR or chmod o+x the parents"
    fi
}

url() {
    echo "postgresql+psycopg://${SUPERUSER}@127.0.0.1:${PORT}/${DATABASE}"
}

is_running() {
    local bindir=$1
    [ -f "$PGDATA_DIR/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

# Data dir, socket dir, log file owned by the cluster owner; initdb the first time.
prepare_cluster() {
    local bindir=$1
    mkdir -p "$DATA_ROOT"
    ensure_run_user
    if [ "$(id -u)" -eq 0 ]; then
        mkdir -p "$SOCKET_DIR"
        chown "$RUN_USER": "$DATA_ROOT" "$SOCKET_DIR"
        [ -d "$PGDATA_DIR" ] && chown -R "$RUN_USER": "$PGDATA_DIR"
        touch "$LOG_FILE" && chown "$RUN_USER": "$LOG_FILE"
    else
        mkdir -p "$SOCKET_DIR"
    fi
    chmod 0700 "$DATA_ROOT"
    if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
        log "initdb $PGDATA_DIR"
        as_owner "$bindir/initdb" -D "$PGDATA_DIR" -U "$SUPERUSER" --auth=trust --encoding=UTF8 \
            --locale=C --no-instructions >"$LOG_FILE.initdb" 2>&1 \
            || { cat "$LOG_FILE.initdb" >&2; die "initdb failed"; }
    fi
}

cmd_up() {
    local bindir
    bindir=$(find_bindir) || die "PostgreSQL server binaries not found: run '$0 install' (make pg-install) first"
    prepare_cluster "$bindir"
    if is_running "$bindir"; then
        log "already running on port $PORT"
    else
        log "starting on 127.0.0.1:$PORT (log $LOG_FILE)"
        if ! as_owner "$bindir/pg_ctl" -D "$PGDATA_DIR" -l "$LOG_FILE" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$SOCKET_DIR $EXTRA_OPTIONS" >&2; then
            tail -n 30 "$LOG_FILE" >&2 || true
            die "the server did not start (see $LOG_FILE)"
        fi
    fi
    local exists
    exists=$(as_owner "$bindir/psql" -h "$SOCKET_DIR" -p "$PORT" -U "$SUPERUSER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")
    if [ "$exists" != "1" ]; then
        log "creating database $DATABASE"
        as_owner "$bindir/createdb" -h "$SOCKET_DIR" -p "$PORT" -U "$SUPERUSER" "$DATABASE"
    fi
    url
}

cmd_down() {
    local bindir
    bindir=$(find_bindir) || { log "PostgreSQL not installed; nothing to stop"; return 0; }
    if [ ! -d "$PGDATA_DIR" ] || ! is_running "$bindir"; then
        log "not running"
        return 0
    fi
    as_owner "$bindir/pg_ctl" -D "$PGDATA_DIR" -w -t 60 -m fast stop >&2
}

# The foreground form for a process supervisor (deploy/local): prepare as in `up`, then exec the server
# itself (as the `postgres` user when root, via setpriv, which execs: the supervisor's pid is the
# postmaster's). Logs go to stderr. The database is created by the caller once the server answers.
cmd_run() {
    local bindir
    bindir=$(find_bindir) || die "PostgreSQL server binaries not found: run '$0 install' (make pg-install) first"
    prepare_cluster "$bindir"
    local -a extra=()
    read -ra extra <<<"$EXTRA_OPTIONS"
    local -a server=("$bindir/postgres" -D "$PGDATA_DIR" -c listen_addresses=127.0.0.1 -p "$PORT"
        -c unix_socket_directories="$SOCKET_DIR" "${extra[@]}")
    log "running in the foreground on 127.0.0.1:$PORT (data $PGDATA_DIR)"
    if [ "$(id -u)" -eq 0 ]; then
        exec setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- "${server[@]}"
    fi
    exec "${server[@]}"
}

cmd_status() {
    local bindir
    bindir=$(find_bindir) || exit 1
    if is_running "$bindir"; then log "running: $(url)"; else log "not running"; exit 1; fi
}

case "${1:-}" in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    url) url ;;
    run) cmd_run ;;
    *) echo "usage: $0 install|up|down|status|url|run" >&2; exit 2 ;;
esac
