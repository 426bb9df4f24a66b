#!/bin/sh
# Set up everything msync's demo, tests and benchmark need on a fresh Debian
# machine: Dovecot, mbsync and perl's enum module from apt (when missing), a
# virtualenv with msync installed (editable, in "compat" mode so that
# twisted/plugins is found by twistd) and the developer tools. Safe to run again; it skips what is done.
set -e
cd "$(dirname "$0")/.."

need_apt=""
# dovecot-core alone has no IMAP server: look for the imap binary itself.
[ -x /usr/lib/dovecot/imap ] || need_apt="$need_apt dovecot-imapd"
command -v doveadm >/dev/null 2>&1 || [ -x /usr/bin/doveadm ] || need_apt="$need_apt dovecot-core"
command -v mbsync >/dev/null 2>&1 || need_apt="$need_apt isync"
command -v openssl >/dev/null 2>&1 || need_apt="$need_apt openssl"
# The shell completion tests run bash and zsh; systemd-analyze checks the units.
command -v zsh >/dev/null 2>&1 || need_apt="$need_apt zsh"
command -v systemd-analyze >/dev/null 2>&1 || need_apt="$need_apt systemd"
# isync's own test suite (tests/integration/test_isync_suite.py) is perl
# and needs the enum module.
command -v perl >/dev/null 2>&1 || need_apt="$need_apt perl"
perl -Menum -e 1 >/dev/null 2>&1 || need_apt="$need_apt libenum-perl"
if [ -n "$need_apt" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: missing packages:$need_apt" >&2
        echo "bootstrap: run as root, or: sudo apt-get install -y$need_apt" >&2
        exit 1
    fi
    echo "bootstrap: installing$need_apt with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $need_apt >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.msync-installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "bootstrap: installing msync and its tools into .venv"
    # pip warns once per package about every configured index or
    # find-links location that lacks it (a machine's pip.conf may list
    # local mirrors that hold only some packages): those lines alone are
    # dropped; any other output shows, and a failure shows all of it.
    pip_log=$(mktemp)
    quiet_pip() {
        if ! .venv/bin/python -m pip "$@" >"$pip_log" 2>&1; then
            cat "$pip_log" >&2
            rm -f "$pip_log"
            exit 1
        fi
        grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$" \
            "$pip_log" >&2 || true
    }
    quiet_pip install -q --upgrade pip
    # The compat mode is the one that puts the checkout itself on sys.path
    # (a .pth line), which twistd needs to find twisted/plugins/msync_plugin.py
    # (the default "lenient" mode maps packages by name and loses it).
    # setuptools warns at length that the mode is transitional: that warning
    # alone is silenced; any other output or failure still shows.
    PYTHONWARNINGS="ignore:Compat editable installs" \
        quiet_pip install -q --config-settings editable_mode=compat -e '.[dev]'
    rm -f "$pip_log"
    touch "$stamp"
fi
# Byte-compile msync once: with PYTHONDONTWRITEBYTECODE set (as on some CI
# machines) every run would otherwise recompile it (~0.1 s per start).
.venv/bin/python -m compileall -q msync >/dev/null 2>&1 || true
