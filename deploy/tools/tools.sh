#!/usr/bin/env bash
# Independent tools that ops point at a deployment, with no project code: grpcurl (gRPC reflection,
# describe, health, calls) and kcat (Kafka topics). Installed on first use, then a quick no-op:
#   tools.sh grpcurl    build grpcurl (pinned) from the Go module proxy into .cache/go-bin/; prints its path
#   tools.sh kcat       install Debian's kcat (apt-get; needs root the first time); prints its path
# (ghz, the gRPC load tool, is built the same way by the load tester: load-tests/loadtest/crosscheck.py.)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
GO_BIN_DIR="$ROOT/.cache/go-bin"
GO_CACHE="$ROOT/.cache/go"
GRPCURL_MODULE="github.com/fullstorydev/grpcurl/cmd/grpcurl"
GRPCURL_VERSION="v1.9.3"

log() { echo "tools.sh: $*" >&2; }
die() { log "$*"; exit 1; }

cmd_grpcurl() {
    local bin="$GO_BIN_DIR/grpcurl"
    local stamp="$GO_BIN_DIR/.grpcurl-$GRPCURL_VERSION"
    if [[ -x "$bin" && -e "$stamp" ]]; then echo "$bin"; return; fi
    command -v go >/dev/null || die "no Go toolchain (go) on PATH to build grpcurl"
    mkdir -p "$GO_BIN_DIR" "$GO_CACHE"
    log "building grpcurl $GRPCURL_VERSION from the Go module proxy into $GO_BIN_DIR (first use, a minute or two)"
    # One build at a time across checkouts and test sessions.
    exec 9>"$GO_BIN_DIR/.grpcurl.lock"
    flock 9
    if [[ ! -e "$stamp" ]]; then
        GOBIN="$GO_BIN_DIR" GOPATH="$GO_CACHE" GOMODCACHE="$GO_CACHE/mod" GOFLAGS=-modcacherw \
            go install "$GRPCURL_MODULE@$GRPCURL_VERSION" >&2 || die "go install $GRPCURL_MODULE@$GRPCURL_VERSION failed"
        touch "$stamp"
    fi
    echo "$bin"
}

cmd_kcat() {
    if command -v kcat >/dev/null; then command -v kcat; return; fi
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    log "installing Debian's kcat (first use)"
    $sudo apt-get install -y -q kcat >&2 || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q kcat >&2; } \
        || die "apt-get could not install kcat"
    command -v kcat
}

case "${1:-}" in
    grpcurl) cmd_grpcurl ;;
    kcat) cmd_kcat ;;
    *) die "usage: tools.sh grpcurl|kcat" ;;
esac
