#!/usr/bin/env bash
# Makes the system tools the tests need available: each argument is COMMAND:DEBIAN_PACKAGE, e.g.
#   scripts/ensure-system-packages.sh promtool:prometheus chromium:chromium
# (promtool checks our /metrics and rules files; chromium runs the console's browser tests, driven by Playwright
# by its executable path: no browser download; PostgreSQL and Redis serve the cluster's tests). A COMMAND with a
# slash is a path pattern (Debian keeps PostgreSQL's server programs off PATH: /usr/lib/postgresql/*/bin). As root with apt-get the missing ones are installed in one
# apt-get (two at once would fight over dpkg's lock); anywhere else (a developer's machine without root) we say so
# in one line and succeed, so `make test` still runs: those tests then skip locally and fail only under CI=...,
# where the install must have worked. Idempotent: commands already on PATH cost nothing.
set -u

missing=()
present() {
    case "$1" in
        */*) compgen -G "$1" >/dev/null ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}
for pair in "$@"; do
    present "${pair%%:*}" || missing+=("$pair")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=("${missing[@]#*:}")

if [ "${EUID:-$(id -u)}" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-system-packages: ${packages[*]} unavailable (needs root and apt-get to install Debian's packages)"
    exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if apt-get -o DPkg::Lock::Timeout=120 update -qq >"$log" 2>&1 \
    && apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${packages[@]}" >>"$log" 2>&1; then
    echo "ensure-system-packages: installed ${packages[*]}"
else
    echo "ensure-system-packages: ${packages[*]} unavailable (apt-get install failed: $(tail -n 1 "$log"))"
fi
exit 0
