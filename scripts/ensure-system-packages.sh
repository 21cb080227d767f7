#!/usr/bin/env bash
# Makes the system tools the tests need available: each argument is COMMAND:DEBIAN_PACKAGE, e.g.
#   scripts/ensure-system-packages.sh promtool:prometheus chromium:chromium
# (promtool checks our /metrics and rules files; chromium runs the console's browser tests, driven by Playwright
# by its executable path: no browser download). As root with apt-get the missing ones are installed in one
# apt-get (two at once would fight over dpkg's lock); anywhere else (a developer's machine without root) we say so
# in one line and succeed, so `make test` still runs: those tests then skip locally and fail only under CI=...,
# where the install must have worked. Idempotent: commands already on PATH cost nothing.
set -u

missing=()
for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("$pair")
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
