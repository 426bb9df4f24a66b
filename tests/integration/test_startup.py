# -*- test-case-name: tests.integration.test_startup -*-
"""
What a C{msync} run loads: a run whose stores never speak TLS imports no TLS
code (pyOpenSSL, cryptography, service_identity, Twisted's TLS support,
L{msync.imap.tls}, the standard library's C{ssl}) and no daemon code; a STARTTLS run does load TLS, and
both sync. No run loads what only C{http.cookiejar} would bring (it is lazy,
L{msync.load_lazily}), and a no-op run does not load C{tempfile} either.
Each run is a fresh interpreter against the private Dovecot.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.dovecot import DovecotTestCase

# Runs msync's command line, then writes the names of every module loaded
# to the file named by the first argument (a lazy module whose code never
# ran, msync.LazyModule, is not loaded).
_RUN_AND_LIST = """
import atexit, sys
path = sys.argv.pop(1)
def listed():
    with open(path, "w") as out:
        loaded = [name for name, module in sys.modules.items()
                  if type(module).__name__ != "LazyModule"]
        out.write("\\n".join(sorted(loaded)))
atexit.register(listed)
from msync.cli import main
main()
"""

_NEAR = """
MaildirStore near
Path {root}/
Inbox {root}/INBOX

IMAPStore far
Account demo

Channel c
Far :far:
Near :near:
SyncState *
"""

#: Modules that only TLS needs (top-level names, and dotted prefixes): the
#: standard library's C{ssl} too (C{asyncio} imports it, and works without).
_TLS = ("OpenSSL", "cryptography", "service_identity", "ssl", "_ssl")
_TLS_PREFIXES = ("twisted.internet.ssl", "twisted.protocols.tls", "msync.imap.tls")


#: Modules no plain run needs: Twisted imports C{http.cookiejar} (made lazy
#: by msync), which would bring these; C{tempfile} only spools fetched bodies;
#: C{twisted.internet.defer} imports C{asyncio} (a stand-in while Twisted
#: loads, L{msync.cli.asyncio_stand_in}).
_UNUSED = (
    "http.client",
    "urllib.request",
    "email",
    "email.parser",
    "asyncio",
    "concurrent.futures",
)
#: Nor a no-op: the -Dn trace, --list-stores, shlex (a hint's quoting),
#: Twisted's endpoints.
_UNUSED_NO_OP = (
    *_UNUSED,
    "tempfile",
    "shutil",
    "shlex",
    "msync.imap.trace",
    "msync.storelist",
    "twisted.internet.endpoints",
    # hashlib loads OpenSSL's libcrypto (msync.digests uses the built-in
    # modules); a lookup of a str host name loads the idna codec
    # (msync.imap.preconnect.ascii_host).
    "hashlib",
    "_hashlib",
    "encodings.idna",
    "stringprep",
    # Lazy (msync.cli.LAZY_MODULES, msync's own): in sys.modules, their
    # code never run; nor what they would bring.
    "pickle",
    "_pickle",
    "random",
    "_random",
    "pty",
    "tty",
    "textwrap",
    "fnmatch",
    "ipaddress",
    "copy",
    "tokenize",
    "twisted.internet.udp",
    "twisted.internet.unix",
    "twisted.python.sendmsg",
    "twisted.internet._multicast",
)

#: msync modules only a full sync of a pair needs: a run whose pairs are
#: all skipped unopened (L{msync.sync.quickcheck}) never loads them; it
#: takes the pair's lock with L{msync.sync.statelock} alone, without the
#: state file, its journal or its records.
_FULL_RUN_ONLY = (
    "msync.sync.engine",
    "msync.sync.reconcile",
    "msync.sync.copying",
    "msync.sync.actions",
    "msync.sync.pairwork",
    "msync.sync.loading",
    "msync.sync.bodies",
    "msync.sync.convert",
    "msync.sync.expiry",
    "msync.sync.flagging",
    "msync.sync.statefile",
    "msync.sync.journal",
    "msync.sync.journal5",
    "msync.sync.statetext",
    "msync.sync.state",
)


def _tls_modules(modules: list[str]) -> list[str]:
    return [
        name for name in modules if name.split(".")[0] in _TLS or name.startswith(_TLS_PREFIXES)
    ]


class StartupImportTests(DovecotTestCase):
    """
    The modules a real run loads.
    """

    def run_msync(self, ssl_type: str, runs: int = 1) -> list[str]:
        """
        L{run_each}, for the last run only.
        """
        return self.run_each(ssl_type, runs)[-1]

    def run_each(self, ssl_type: str, runs: int) -> list[list[str]]:
        """
        Pull the server's INBOX with C{SSLType ssl_type}, C{runs} times (the
        later runs have nothing to do); every sync must succeed, and bring
        both messages.

        @return: the names of the modules each run loaded.
        """
        self.dovecot.add_message("INBOX", b"Subject: one\r\n\r\nfirst\r\n")
        self.dovecot.add_message("INBOX", b"Subject: two\r\n\r\nsecond\r\n", ["\\Seen"])
        base = os.path.abspath(self.mktemp())
        root = os.path.join(base, "Mail")
        os.makedirs(root)
        config = os.path.join(base, "rc")
        with open(config, "w") as out:
            out.write(self.dovecot.imap_account_section("demo", ssl_type))
            out.write(_NEAR.format(root=root))
        loaded: list[list[str]] = []
        for run in range(runs):
            listing = os.path.join(base, f"modules{run}")
            done = subprocess.run(
                [sys.executable, "-c", _RUN_AND_LIST, listing, "-c", config, "c"],
                capture_output=True,
                timeout=120,
                check=False,
            )
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(listing) as modules:
                loaded.append(modules.read().split())
        inbox = os.path.join(root, "INBOX")
        names = os.listdir(os.path.join(inbox, "new")) + os.listdir(os.path.join(inbox, "cur"))
        self.assertEqual(len(names), 2)
        return loaded

    def test_plain_run_loads_no_tls_nor_daemon(self) -> None:
        """
        C{SSLType None}: neither TLS code nor the daemon is imported.
        """
        modules = self.run_msync("None")
        self.assertIn("msync.stores.imapstore", modules)
        # Its connection started before Twisted loaded (msync.cli.start_connecting).
        self.assertIn("msync.imap.preconnect", modules)
        self.assertIn("twisted.internet.reactor", modules)
        self.assertEqual(_tls_modules(modules), [])
        self.assertEqual(
            [name for name in modules if name.startswith(("msync.daemon", "msync.service"))], []
        )
        self.assertEqual([name for name in _UNUSED if name in modules], [])

    def test_plain_no_op_run(self) -> None:
        """
        A second, no-op, C{SSLType None} run loads neither TLS, nor the
        daemon, nor C{urllib}/C{http.client}/C{email}, nor C{tempfile}, nor
        the engine and what only a full sync uses; the first run (a pull)
        does load the engine.
        """
        first, modules = self.run_each("None", runs=2)
        self.assertIn("msync.sync.engine", first)
        self.assertIn("msync.sync.quickcheck", modules)
        self.assertEqual([name for name in _FULL_RUN_ONLY if name in modules], [])
        self.assertEqual(_tls_modules(modules), [])
        self.assertEqual(
            [name for name in modules if name.startswith(("msync.daemon", "msync.service"))], []
        )
        self.assertEqual([name for name in _UNUSED_NO_OP if name in modules], [])

    def test_starttls_run_loads_tls(self) -> None:
        """
        C{SSLType STARTTLS}: the run loads TLS and syncs over it.
        """
        modules = self.run_msync("STARTTLS")
        for name in (
            "OpenSSL",
            "service_identity",
            "msync.imap.tls",
            "twisted.protocols.tls",
        ):
            self.assertIn(name, modules)
        # Twisted's TLS is pyOpenSSL's; the standard library's ssl came with
        # asyncio, which no run loads now (msync.cli.asyncio_stand_in).
        self.assertNotIn("ssl", modules)
