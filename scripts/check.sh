#!/bin/sh
# Run every check (ruff, mypy, trial under coverage.py) and end with one line
# "N passed, M failed": N counts passing tests, M failing tests plus one for
# each failing lint/type check. Exit status 0 only when M is 0. The line
# before it is the coverage total of msync/ over the whole suite (unit and
# integration tests; code run in child processes is not counted).
cd "$(dirname "$0")/.."
PY=.venv/bin/python
failed_checks=0

echo "== ruff check"
$PY -m ruff check msync tests twisted scripts bench || failed_checks=$((failed_checks + 1))
echo "== ruff format --check"
$PY -m ruff format --check msync tests twisted scripts bench || failed_checks=$((failed_checks + 1))
echo "== mypy"
$PY -m mypy msync twisted/plugins tests bench || failed_checks=$((failed_checks + 1))
echo "== trial tests (under coverage)"
log=$(mktemp)
rm -f .coverage
$PY -m coverage run -m twisted.trial --reporter=text ${TRIAL_ARGS:-} tests 2>&1 | tee "$log"
summary=$(grep -E '^(PASSED|FAILED) \(' "$log" | tail -1)
rm -f "$log"
count() { echo "$summary" | grep -oE "$1=[0-9]+" | cut -d= -f2; }
successes=$(count successes); successes=${successes:-0}
failures=$(count failures); failures=${failures:-0}
errors=$(count errors); errors=${errors:-0}
unexpected=$(count unexpectedSuccesses); unexpected=${unexpected:-0}
skips=$(count skips); skips=${skips:-0}
if [ -z "$summary" ]; then
    echo "trial produced no summary" >&2
    errors=$((errors + 1))
fi
failed=$((failures + errors + unexpected + failed_checks))
if [ "$skips" != 0 ]; then
    echo "$skips test(s) skipped"
fi
echo "== coverage of msync/"
$PY -m coverage report --skip-covered >"$log" 2>&1 || true
cat "$log"
total=$(grep -E '^TOTAL ' "$log" | awk '{print $NF}')
rm -f "$log"
echo "coverage: ${total:-unknown} of msync/ (statements and branches)"
echo "$successes passed, $failed failed"
[ "$failed" = 0 ]
