#!/usr/bin/env bash
# Fetch, start and stop the project's single-node Apache Kafka broker (KRaft, combined broker+controller).
#
#   kafka.sh fetch                      resolve the broker + tools jars from Maven Central (idempotent)
#   kafka.sh up                         format the log dir if needed, start, wait until ready, create topics
#   kafka.sh down                       SIGTERM, wait, SIGKILL after PIPEWARDEN_KAFKA_STOP_TIMEOUT_S
#   kafka.sh status                     exit 0 when running, 3 when not
#   kafka.sh run-class CLASS [ARGS...]  run a Java class on the fetched classpath
#   kafka.sh run                        format if needed and run the broker in the foreground (exec: for a
#                                       process supervisor such as deploy/local; no pid file, no topics)
#
# Environment (defaults in brackets) — see deploy/kafka/README.md:
#   PIPEWARDEN_KAFKA_PORT [9092]  PIPEWARDEN_KAFKA_CONTROLLER_PORT [9093]  PIPEWARDEN_KAFKA_DATA_DIR [var/kafka]
#   PIPEWARDEN_KAFKA_VERSION [4.3.1]  PIPEWARDEN_KAFKA_HEAP [1G]  PIPEWARDEN_KAFKA_START_TIMEOUT_S [90]
#   PIPEWARDEN_KAFKA_STOP_TIMEOUT_S [30]  PIPEWARDEN_KAFKA_CACHE_DIR [.cache/kafka]  PIPEWARDEN_M2_REPO [.cache/m2]
#   PIPEWARDEN_KAFKA_CREATE_TOPICS [1]  PIPEWARDEN_KAFKA_WATCH_PID [unset: stop the broker when that pid exits]
#   PIPEWARDEN_PYTHON [.venv/bin/python]
# TLS / SASL on the client listener (deploy/kafka/README.md "TLS and SASL/SCRAM"):
#   PIPEWARDEN_KAFKA_SECURITY_PROTOCOL [PLAINTEXT] | SSL | SASL_SSL   (the clients read the same variable)
#   PIPEWARDEN_KAFKA_SSL_SERVER_CERTFILE, PIPEWARDEN_KAFKA_SSL_SERVER_KEYFILE   the broker's PEM cert + PKCS#8 key
#   PIPEWARDEN_KAFKA_SSL_CAFILE           CA bundle (clients check the broker with it; mTLS clients are checked with it)
#   PIPEWARDEN_KAFKA_SSL_CLIENT_AUTH [none] | required   mutual TLS on the client listener: every client presents
#                                         a certificate signed by PIPEWARDEN_KAFKA_SSL_CAFILE (with SASL_SSL: and its
#                                         SCRAM password too); this script's own tools then present
#   PIPEWARDEN_KAFKA_SSL_CERTFILE, PIPEWARDEN_KAFKA_SSL_KEYFILE   a client certificate + key (the clients' variables)
#   PIPEWARDEN_KAFKA_SASL_MECHANISM [SCRAM-SHA-512] | SCRAM-SHA-256
#   PIPEWARDEN_KAFKA_SASL_USERNAME, PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE   the broker's own SCRAM user (and the
#                                         one kafka.sh's topic tool connects as); created when the log dir is formatted
#   PIPEWARDEN_KAFKA_SCRAM_USERS_FILE     more SCRAM users, one "name password" a line, created at format time
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

KAFKA_VERSION="${PIPEWARDEN_KAFKA_VERSION:-4.3.1}"
CACHE_DIR="$(realpath -m "${PIPEWARDEN_KAFKA_CACHE_DIR:-$ROOT/.cache/kafka}")"
M2_REPO="$(realpath -m "${PIPEWARDEN_M2_REPO:-$ROOT/.cache/m2}")"
LIB_DIR="$CACHE_DIR/lib"
PORT="${PIPEWARDEN_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${PIPEWARDEN_KAFKA_CONTROLLER_PORT:-9093}"
DATA_DIR="$(realpath -m "${PIPEWARDEN_KAFKA_DATA_DIR:-$ROOT/var/kafka}")"
HEAP="${PIPEWARDEN_KAFKA_HEAP:-1G}"
START_TIMEOUT_S="${PIPEWARDEN_KAFKA_START_TIMEOUT_S:-90}"
STOP_TIMEOUT_S="${PIPEWARDEN_KAFKA_STOP_TIMEOUT_S:-30}"
CREATE_TOPICS="${PIPEWARDEN_KAFKA_CREATE_TOPICS:-1}"
PYTHON="${PIPEWARDEN_PYTHON:-$ROOT/.venv/bin/python}"
SECURITY_PROTOCOL="${PIPEWARDEN_KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}"
SASL_MECHANISM="${PIPEWARDEN_KAFKA_SASL_MECHANISM:-SCRAM-SHA-512}"
SSL_CLIENT_AUTH="${PIPEWARDEN_KAFKA_SSL_CLIENT_AUTH:-none}"

PID_FILE="$DATA_DIR/kafka.pid"
CONFIG_FILE="$DATA_DIR/server.properties"
LOG_DIRS="$DATA_DIR/kraft-logs"
STDOUT_LOG="$DATA_DIR/stdout.log"

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )); }

stamp_file() {
    # The stamp names everything that decides the classpath, so a changed pom or version re-fetches.
    local digest
    digest="$( { cat "$HERE/pom.xml"; echo "$KAFKA_VERSION"; } | sha256sum | cut -c1-16)"
    echo "$LIB_DIR/.fetched-$digest"
}

ensure_maven() {
    command -v java >/dev/null || die "java not found (Kafka $KAFKA_VERSION needs Java 17+)"
    if ! command -v mvn >/dev/null; then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
            log "mvn not found; installing maven with apt-get"
            apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q maven
        else
            die "mvn not found: install Maven 3.6+ (Debian: apt-get install -y maven)"
        fi
    fi
}

cmd_fetch() {
    local stamp
    stamp="$(stamp_file)"
    [[ -f "$stamp" ]] && return 0
    mkdir -p "$CACHE_DIR"
    # Several checkouts' test sessions may fetch at once: one does the work, the others wait for it.
    exec 9>"$CACHE_DIR/.fetch.lock"
    flock 9
    if [[ -f "$stamp" ]]; then exec 9>&-; return 0; fi
    ensure_maven
    local tmp="$CACHE_DIR/lib.tmp.$$"
    rm -rf "$tmp"
    log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIB_DIR"
    mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" -Dmaven.repo.local="$M2_REPO" -Dkafka.version="$KAFKA_VERSION" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime -Dmdep.useBaseVersion=true \
        >"$CACHE_DIR/fetch.log" 2>&1 \
        || { cat "$CACHE_DIR/fetch.log" >&2; rm -rf "$tmp"; die "maven could not resolve Kafka $KAFKA_VERSION"; }
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "kafka_2.13 jar missing after fetch"; }
    # A running broker keeps its open jars after the unlink, so swapping the directory is safe.
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    touch "$(stamp_file)"
    exec 9>&-
    log "fetched $(ls "$LIB_DIR"/*.jar | wc -l) jars"
}

java_cmd() {
    # Tools log to stderr at WARN; the broker overrides this with deploy/kafka/log4j2.xml.
    java -Xms64m -Xmx512m -Dlog4j2.configurationFile="$HERE/log4j2-tools.xml" -cp "$LIB_DIR/*" "$@"
}

broker_pid() {
    # Prints the pid when the pid file names a live broker of THIS data dir (pids are reused).
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $CONFIG_FILE" || return 1
    echo "$pid"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

new_cluster_id() {
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding. Like Kafka's own
    # Uuid.randomUuid(), never start with '-': the storage tool's parser would take it for an option.
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" != -* ]] && break
    done
    echo "$id"
}

check_security() {
    case "$SECURITY_PROTOCOL" in
        PLAINTEXT) return 0 ;;
        SSL|SASL_SSL) ;;
        *) die "PIPEWARDEN_KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL or SASL_SSL, got '$SECURITY_PROTOCOL'" ;;
    esac
    local v
    for v in PIPEWARDEN_KAFKA_SSL_SERVER_CERTFILE PIPEWARDEN_KAFKA_SSL_SERVER_KEYFILE PIPEWARDEN_KAFKA_SSL_CAFILE; do
        [[ -n "${!v:-}" ]] || die "PIPEWARDEN_KAFKA_SECURITY_PROTOCOL=$SECURITY_PROTOCOL needs $v"
        [[ -f "${!v}" ]] || die "$v: no such file: ${!v}"
    done
    case "$SSL_CLIENT_AUTH" in none|required) ;; *) die "PIPEWARDEN_KAFKA_SSL_CLIENT_AUTH must be none or required" ;; esac
    if [[ "$SSL_CLIENT_AUTH" == required ]]; then
        # The readiness check and topic creation below connect as clients: they need a certificate of their own.
        for v in PIPEWARDEN_KAFKA_SSL_CERTFILE PIPEWARDEN_KAFKA_SSL_KEYFILE; do
            [[ -n "${!v:-}" ]] || die "PIPEWARDEN_KAFKA_SSL_CLIENT_AUTH=required needs $v (this script's own client certificate)"
            [[ -f "${!v}" ]] || die "$v: no such file: ${!v}"
        done
    fi
    if [[ "$SECURITY_PROTOCOL" == SASL_SSL ]]; then
        case "$SASL_MECHANISM" in SCRAM-SHA-512|SCRAM-SHA-256) ;;
            *) die "PIPEWARDEN_KAFKA_SASL_MECHANISM must be SCRAM-SHA-512 or SCRAM-SHA-256, got '$SASL_MECHANISM'" ;; esac
        for v in PIPEWARDEN_KAFKA_SASL_USERNAME PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE; do
            [[ -n "${!v:-}" ]] || die "PIPEWARDEN_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs $v"
        done
        [[ "$PIPEWARDEN_KAFKA_SASL_USERNAME" =~ ^[A-Za-z0-9._-]+$ ]] \
            || die "PIPEWARDEN_KAFKA_SASL_USERNAME: letters, digits, '.', '_' and '-' only"
        [[ -f "$PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE" ]] \
            || die "PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE: no such file: $PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE"
    fi
    return 0
}

read_secret() {
    # First line of a secret file, refused when empty or holding characters the config syntaxes would need escaped.
    local value
    value="$(head -n 1 "$1" | tr -d '\r\n')"
    [[ -n "$value" ]] || die "$1 is empty"
    [[ "$value" =~ ^[A-Za-z0-9._~+/=-]+$ ]] || die "$1: a password of letters, digits and . _ ~ + / = - only"
    printf '%s' "$value"
}

listener_config() {
    # The client listener: PLAINTEXT (the default) or TLS (SSL / SASL_SSL) with PEM key and trust stores.
    local name="$SECURITY_PROTOCOL"
    cat <<EOF
listeners=$name://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=$name://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=$name
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$name:$name
EOF
    [[ "$SECURITY_PROTOCOL" == PLAINTEXT ]] && return 0
    # Kafka's PEM keystore is one file: the private key (PKCS#8), then the certificate chain. Client
    # authentication is set per listener too: a SASL_SSL listener ignores the broker-wide ssl.client.auth, and
    # without this line a SASL_SSL broker with PIPEWARDEN_KAFKA_SSL_CLIENT_AUTH=required let clients in without one.
    local keystore="$DATA_DIR/tls/keystore.pem"
    mkdir -p "$DATA_DIR/tls"
    (umask 077; cat "$PIPEWARDEN_KAFKA_SSL_SERVER_KEYFILE" "$PIPEWARDEN_KAFKA_SSL_SERVER_CERTFILE" >"$keystore")
    cat <<EOF
ssl.keystore.type=PEM
ssl.keystore.location=$keystore
ssl.truststore.type=PEM
ssl.truststore.location=$(realpath "$PIPEWARDEN_KAFKA_SSL_CAFILE")
ssl.client.auth=$SSL_CLIENT_AUTH
listener.name.$(echo "$name" | tr 'A-Z' 'a-z').ssl.client.auth=$SSL_CLIENT_AUTH
ssl.enabled.protocols=TLSv1.3,TLSv1.2
ssl.endpoint.identification.algorithm=https
EOF
    [[ "$SECURITY_PROTOCOL" == SASL_SSL ]] || return 0
    local lower
    lower="$(echo "$SASL_MECHANISM" | tr 'A-Z' 'a-z')"
    cat <<EOF
sasl.enabled.mechanisms=$SASL_MECHANISM
sasl.mechanism.inter.broker.protocol=$SASL_MECHANISM
listener.name.sasl_ssl.$lower.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$PIPEWARDEN_KAFKA_SASL_USERNAME" password="$(read_secret "$PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE")";
EOF
}

write_config() {
    # The file may hold the broker's SCRAM password: readable by its owner only.
    (umask 077; : >"$CONFIG_FILE")
    chmod 600 "$CONFIG_FILE"
    { cat <<EOF
# Written by deploy/kafka/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
EOF
    listener_config
    cat <<EOF
log.dirs=$LOG_DIRS

# One node: every replication factor and min ISR is 1.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Topics come from services/topics (explicit partitions and retention), never from a typo.
auto.create.topics.enable=false
delete.topic.enable=true
# Consumer groups of one member should not wait 3 s before their first assignment.
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=300000
EOF
    } >>"$CONFIG_FILE"
}

format_argfile() {
    # The format tool's main class and arguments, --add-scram users included, as a java @argfile (0600,
    # deleted after use): passwords never appear on a command line. (The launcher expands @files only before
    # the main class, so the class is in the file too.)
    local file="$DATA_DIR/tls/format.args" user pass
    mkdir -p "$DATA_DIR/tls"
    (umask 077; : >"$file")
    printf -- 'kafka.tools.StorageTool\nformat\n--ignore-formatted\n--cluster-id=%s\n-c\n"%s"\n' \
        "$(new_cluster_id)" "$CONFIG_FILE" >>"$file"
    printf -- '--add-scram\n"%s=[name=%s,password=%s]"\n' "$SASL_MECHANISM" "$PIPEWARDEN_KAFKA_SASL_USERNAME" \
        "$(read_secret "$PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE")" >>"$file"
    if [[ -n "${PIPEWARDEN_KAFKA_SCRAM_USERS_FILE:-}" ]]; then
        [[ -f "$PIPEWARDEN_KAFKA_SCRAM_USERS_FILE" ]] || { rm -f "$file"; die "PIPEWARDEN_KAFKA_SCRAM_USERS_FILE: no such file"; }
        while read -r user pass _; do
            [[ -z "$user" || "$user" == \#* ]] && continue
            [[ "$user" =~ ^[A-Za-z0-9._-]+$ && "$pass" =~ ^[A-Za-z0-9._~+/=-]+$ ]] \
                || { rm -f "$file"; die "PIPEWARDEN_KAFKA_SCRAM_USERS_FILE: bad line for user '$user' (name password)"; }
            printf -- '--add-scram\n"%s=[name=%s,password=%s]"\n' "$SASL_MECHANISM" "$user" "$pass" >>"$file"
        done <"$PIPEWARDEN_KAFKA_SCRAM_USERS_FILE"
    fi
    echo "$file"
}

cmd_up() {
    is_port "$PORT" || die "PIPEWARDEN_KAFKA_PORT is not a port: '$PORT'"
    is_port "$CONTROLLER_PORT" || die "PIPEWARDEN_KAFKA_CONTROLLER_PORT is not a port: '$CONTROLLER_PORT'"
    [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "broker and controller ports must differ ($PORT)"
    local pid
    if pid="$(broker_pid)"; then
        log "already running (pid $pid, data dir $DATA_DIR)"
    else
        for p in "$PORT" "$CONTROLLER_PORT"; do
            port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (another broker? set PIPEWARDEN_KAFKA_PORT / PIPEWARDEN_KAFKA_CONTROLLER_PORT)"
        done
        prepare_data_dir
        log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (controller $CONTROLLER_PORT, data $DATA_DIR)"
        # setsid: the broker outlives the shell that started it (make, the pytest fixture) until `down`.
        setsid nohup java -Xms256m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            -Dkafka.logs.dir="$DATA_DIR" -Dlog4j2.configurationFile="$HERE/log4j2.xml" \
            -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG_FILE" >"$STDOUT_LOG" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PID_FILE"
        if [[ -n "${PIPEWARDEN_KAFKA_WATCH_PID:-}" ]]; then
            start_watchdog "$pid" "$PIPEWARDEN_KAFKA_WATCH_PID"
        fi
    fi
    wait_ready "$pid"
    if [[ "$CREATE_TOPICS" == 1 ]]; then
        [[ -x "$PYTHON" ]] || die "$PYTHON not found: run 'make venv' (or set PIPEWARDEN_KAFKA_CREATE_TOPICS=0)"
        (cd "$ROOT" && "$PYTHON" -m services.topics.admin --bootstrap "127.0.0.1:$PORT" --wait-s 30) \
            || die "creating the project topics failed"
    fi
    log "ready: bootstrap 127.0.0.1:$PORT"
}

start_watchdog() {
    # A test session killed with SIGKILL never runs its teardown; this stops its broker anyway.
    local broker="$1" watched="$2"
    setsid bash -c '
        while kill -0 "$2" 2>/dev/null && kill -0 "$1" 2>/dev/null; do sleep 2; done
        if kill -0 "$1" 2>/dev/null; then
            kill -TERM "$1" 2>/dev/null
            for _ in $(seq 1 30); do kill -0 "$1" 2>/dev/null || exit 0; sleep 1; done
            kill -KILL "$1" 2>/dev/null
        fi' watchdog "$broker" "$watched" >/dev/null 2>&1 </dev/null &
}

wait_ready() {
    local pid="$1" deadline=$((SECONDS + START_TIMEOUT_S))
    until port_in_use "$PORT"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$STDOUT_LOG" >&2 || true
            die "the broker exited during start-up; see $DATA_DIR/server.log"
        fi
        ((SECONDS < deadline)) || die "the broker did not listen on $PORT within ${START_TIMEOUT_S}s; see $DATA_DIR/server.log"
        sleep 0.3
    done
    # Listening is not serving: ask for metadata until the broker has registered with the controller.
    if [[ -x "$PYTHON" ]]; then
        local left=$((deadline - SECONDS))
        ((left > 5)) || left=5
        (cd "$ROOT" && "$PYTHON" -m services.topics.admin --bootstrap "127.0.0.1:$PORT" \
            --wait-s "$left" --check) || die "the broker does not answer metadata requests; see $DATA_DIR/server.log"
    fi
}

cmd_down() {
    local pid
    if ! pid="$(broker_pid)"; then
        log "not running (data dir $DATA_DIR)"
        rm -f "$PID_FILE"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "still running after ${STOP_TIMEOUT_S}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    # The broker is a setsid child of an exited shell: whoever reaps it, wait until /proc forgets it.
    while [[ -e "/proc/$pid" ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do sleep 0.1; done
    rm -f "$PID_FILE"
    log "stopped"
}

# Jars, config and a formatted KRaft log dir (formatted once: the cluster id is kept across restarts).
prepare_data_dir() {
    check_security
    cmd_fetch
    mkdir -p "$DATA_DIR"
    write_config
    if [[ ! -f "$LOG_DIRS/meta.properties" ]]; then
        log "formatting $LOG_DIRS (client listener: $SECURITY_PROTOCOL)"
        if [[ "$SECURITY_PROTOCOL" == SASL_SSL ]]; then
            # SCRAM users of a KRaft cluster are records of its metadata log, written here once.
            local argfile
            argfile="$(format_argfile)"
            if ! java_cmd "@$argfile" >"$DATA_DIR/format.log" 2>&1; then
                rm -f "$argfile"
                cat "$DATA_DIR/format.log" >&2
                die "formatting the KRaft log dir failed"
            fi
            rm -f "$argfile"
        else
            java_cmd kafka.tools.StorageTool format --ignore-formatted \
                --cluster-id="$(new_cluster_id)" -c "$CONFIG_FILE" >"$DATA_DIR/format.log" 2>&1 \
                || { cat "$DATA_DIR/format.log" >&2; die "formatting the KRaft log dir failed"; }
        fi
    fi
    return 0
}

cmd_run() {
    # The foreground form of `up` for a supervisor: same config, same JVM flags, exec so that the
    # supervisor's pid is the broker's (signals and kill -9 reach the JVM itself).
    is_port "$PORT" || die "PIPEWARDEN_KAFKA_PORT is not a port: '$PORT'"
    is_port "$CONTROLLER_PORT" || die "PIPEWARDEN_KAFKA_CONTROLLER_PORT is not a port: '$CONTROLLER_PORT'"
    [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "broker and controller ports must differ ($PORT)"
    prepare_data_dir
    log "running Kafka $KAFKA_VERSION in the foreground on 127.0.0.1:$PORT (controller $CONTROLLER_PORT, data $DATA_DIR)"
    exec java -Xms256m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dkafka.logs.dir="$DATA_DIR" -Dlog4j2.configurationFile="$HERE/log4j2.xml" \
        -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG_FILE"
}

cmd_status() {
    local pid
    if pid="$(broker_pid)"; then
        echo "running: pid $pid, bootstrap 127.0.0.1:$PORT, controller $CONTROLLER_PORT, data $DATA_DIR"
    else
        echo "not running (data dir $DATA_DIR)"
        return 3
    fi
}

cmd_run_class() {
    [[ $# -ge 1 ]] || die "usage: kafka.sh run-class CLASS [ARGS...]"
    cmd_fetch
    exec java -Xms64m -Xmx"${PIPEWARDEN_KAFKA_TOOL_HEAP:-512m}" \
        -Dlog4j2.configurationFile="$HERE/log4j2-tools.xml" -cp "$LIB_DIR/*" "$@"
}

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    run-class) shift; cmd_run_class "$@" ;;
    run) cmd_run ;;
    -h|--help|help) usage ;;
    *) usage; exit 2 ;;
esac
