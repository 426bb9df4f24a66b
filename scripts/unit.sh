#!/bin/sh
# Run the unit tests alone: every test package and module under tests/
# except tests/integration/ (real Dovecot, mbsync, twistd, /bin/sh and lock
# holders in other processes). Unit tests use fakes and fake clocks only
# (tests/test_layering.py's UnitTestIsolationTests checks it), so this needs
# no network, process or wall-clock wait.
cd "$(dirname "$0")/.."
modules=""
for entry in tests/*; do
    name=$(basename "$entry" .py)
    case "$entry" in
        tests/integration | tests/__pycache__ | tests/__init__.py) continue ;;
        tests/test_*.py) modules="$modules tests.$name" ;;
        *) [ -f "$entry/__init__.py" ] && modules="$modules tests.$name" ;;
    esac
done
exec .venv/bin/python -m twisted.trial ${TRIAL_ARGS:-} $modules
