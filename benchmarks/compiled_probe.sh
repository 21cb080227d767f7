#!/usr/bin/env bash
# What a compiled order path would buy, measured: the OR-1 hot modules compiled with mypyc from this
# checkout's own source, against the same source uncompiled, interleaved in one run.
#
# This is a probe, not a build of the project: the compiled modules change behaviour that the project
# relies on (docs/performance.md lists what the probe found), so nothing here is installed for use.
# It works in a scratch directory: a copy of HEAD, a venv of its own with mypy, and the five small
# changes mypyc needs that the source itself should not take (benchmarks/compiled_probe.patch: a
# protocol no longer runtime-checkable, a field typed Any, an attribute renamed, and so on; a test
# checks that it still applies). About 3 minutes, most of it installing and compiling.
#
#     bash benchmarks/compiled_probe.sh [ROUNDS]      # ROUNDS compiled/uncompiled pairs, 3 by default
#     bash benchmarks/compiled_probe.sh --tests       # instead: the test suite against the compiled build
#                                                     # (what adopting it would have to fix first)
set -euo pipefail
tests=false
if [[ ${1:-} == --tests ]]; then
    tests=true
    shift
fi
rounds=${1:-3}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d -t alluse-compiled-probe.XXXXXX)
trap 'rm -rf "$work"' EXIT
copy=$work/copy
mkdir "$copy" "$work/aside"
git -C "$repo" archive HEAD | tar -x -C "$copy"
(cd "$copy" && git apply "$repo/benchmarks/compiled_probe.patch")
python3.11 -m venv "$work/venv"
extras=$($tests && echo "[test]" || true)
"$work/venv/bin/pip" install -q -e "$copy$extras" "mypy>=1.13" 2>"$work/pip.log" || { tail "$work/pip.log"; exit 1; }
modules=(
    model.py clock.py bus.py instruments.py sqlite_files.py
    execution/events.py execution/fsm.py execution/oms.py execution/journal.py execution/intent_log.py
    execution/errors.py
    brokers/paper.py brokers/paper_link.py brokers/paper_store.py brokers/base.py brokers/commissions.py
    risk/gate.py risk/checks.py risk/exposure.py risk/throttle.py risk/limits.py risk/denial.py risk/states.py
    risk/loss.py
    portfolio/ledger.py portfolio/quality.py marketdata/cache.py monitoring/metrics.py
)
start=$(date +%s)
(cd "$copy/src" && "$work/venv/bin/mypyc" "${modules[@]/#/alluse/}" >"$work/build.log" 2>&1) || {
    tail -30 "$work/build.log"
    exit 1
}
echo "compiled ${#modules[@]} modules with $("$work/venv/bin/mypyc" --version 2>/dev/null || "$work/venv/bin/mypy" --version) in $(($(date +%s) - start)) s"
if $tests; then
    cd "$copy"
    status=0
    "$work/venv/bin/python" -m pytest -q -p no:randomly --continue-on-collection-errors tests >"$work/pytest.log" 2>&1 ||
        status=$?
    grep -E "^(FAILED|ERROR) tests/" "$work/pytest.log" | sort -u || true
    tail -3 "$work/pytest.log"
    echo "pytest exit status $status (the patch test fails by design here: the copy is already patched)"
    exit 0
fi
cat >"$work/or1.py" <<'EOF'
import json
import alluse.execution.oms as oms
from alluse.bench.or1 import run_or1
from alluse.config import JournalConfig
run_or1(2000, JournalConfig())  # warm-up
r = run_or1(20000, JournalConfig())
compiled = not oms.__file__.endswith(".py")
print(f"{'compiled  ' if compiled else 'uncompiled'}  p50 {r.percentile_us(50):6.1f} us  p99 {r.percentile_us(99):6.1f} us  "
      f"{r.orders_per_s:8,.0f} orders/s")
EOF
sos() { (cd "$1" && find alluse -name '*.so'); }
aside() { sos "$copy/src" | while read -r f; do mkdir -p "$work/aside/$(dirname "$f")" && mv "$copy/src/$f" "$work/aside/$f"; done; }
back() { sos "$work/aside" | while read -r f; do mv "$work/aside/$f" "$copy/src/$f"; done; }
cd "$work"
echo "OR-1, 20,000 orders back to back, each run in a fresh process:"
for _ in $(seq "$rounds"); do
    "$work/venv/bin/python" "$work/or1.py"
    aside
    "$work/venv/bin/python" "$work/or1.py"
    back
done
