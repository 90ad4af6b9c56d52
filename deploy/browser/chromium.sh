#!/usr/bin/env bash
# Headless Chromium for the console's browser tests (tests/browser) and `make bench-console`.
#
#   chromium.sh install   install Debian's `chromium` and `chromium-driver` when missing (a quick no-op
#                         otherwise); `make chromium` and `make test` run it
#   chromium.sh path      print the browser's executable (what Playwright is pointed at)
#
# Playwright drives the distribution's browser (executable_path), never a browser it downloads itself:
# the machine may have no internet but a package mirror. Progress goes to stderr.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }
die() { log "$*"; exit 1; }

find_browser() {
    local candidate
    for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

cmd_install() {
    if browser=$(find_browser) && command -v chromedriver >/dev/null 2>&1; then
        log "Chromium present: $browser ($("$browser" --version 2>/dev/null || echo 'version unknown'))"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "Chromium is missing; run as root: apt-get install -y chromium chromium-driver"
    command -v apt-get >/dev/null 2>&1 || die "Chromium is missing and apt-get is not available: install Chromium by hand"
    log "installing chromium and chromium-driver from the distribution's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
    browser=$(find_browser) || die "apt-get finished but no chromium executable was found"
    log "Chromium installed: $browser"
}

case "${1:-}" in
    install) cmd_install ;;
    path) find_browser || die "Chromium is not installed: run deploy/browser/chromium.sh install" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
