"""
Tests for L{msync.cli}: the option grammar, the effective operations, the
error messages and the C{msync} command run in-process.

Rows marked "verified" were compared with mbsync 1.4.4: error rows by their
exact stderr and exit status; operation rows by syncing a Maildir pair with
one new message on each side and one box on each side only (which messages
were pulled/pushed, which boxes created).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from msync import __version__
from msync.cli import (
    DEBUG_ALL,
    INTERRUPTED,
    Action,
    CommandLine,
    DebugCategory,
    Output,
    TestingOptions,
    interrupt_handler,
    main,
    parse_arguments,
    resize_handler,
    terminal_columns,
    usage_text,
    version_text,
)
from msync.config.schema import ALL_SIDES, SyncOp, SyncOps
from msync.errors import UsageError
from msync.model import Side
from msync.report import Counters, OutputPolicy, Severity

ALL = SyncOp.ALL
NONE = SyncOp.NONE
NEW = SyncOp.NEW
FLAGS = SyncOp.FLAGS
DELETE = SyncOp.DELETE
RENEW = SyncOp.RENEW
FAR = frozenset({Side.FAR})
NEAR = frozenset({Side.NEAR})
NO = frozenset[Side]()


def _sync(argv: str) -> SyncOps | None:
    """
    The Sync override for a space-separated command line.
    """
    return parse_arguments(argv.split()).overrides.sync


def _missing(store: str, path: str) -> str:
    """
    mbsync's error for a MaildirStore whose Path is missing, and msync's
    hint naming the directory to create.
    """
    return (
        f"Maildir error: cannot open store '{path}'\n"
        f"Hint: MaildirStore {store}'s Path does not exist; create it with: mkdir -p {path}"
    )


class SyncOptionTests(SynchronousTestCase):
    """
    The operation options → the C{Sync} matrix that replaces the channel's.
    """

    def test_rows(self) -> None:
        """
        Every spelling and combination gives mbsync's matrix (pull = applied
        to near, push = applied to far). Rows with a trailing comment were
        verified by syncing with mbsync 1.4.4.
        """
        rows: list[tuple[str, SyncOps | None]] = [
            ("", None),
            ("-V", None),
            ("-n", SyncOps(NEW, NEW)),  # verified
            ("--new", SyncOps(NEW, NEW)),
            ("-d", SyncOps(DELETE, DELETE)),
            ("--delete", SyncOps(DELETE, DELETE)),
            ("-f", SyncOps(FLAGS, FLAGS)),  # verified (nothing copied)
            ("--flags", SyncOps(FLAGS, FLAGS)),
            ("-N", SyncOps(RENEW, RENEW)),  # verified
            ("--renew", SyncOps(RENEW, RENEW)),
            ("-nf", SyncOps(NEW | FLAGS, NEW | FLAGS)),
            ("-L", SyncOps(ALL, NONE)),  # verified
            ("--pull", SyncOps(ALL, NONE)),
            ("-H", SyncOps(NONE, ALL)),  # verified
            ("--push", SyncOps(NONE, ALL)),
            ("-L -H", SyncOps(ALL, ALL)),  # verified
            ("--pull --push", SyncOps(ALL, ALL)),  # verified
            ("-Ln", SyncOps(NEW, NONE)),  # verified
            ("--pull-new", SyncOps(NEW, NONE)),  # verified
            ("-Hn", SyncOps(NONE, NEW)),  # verified
            ("--push-new", SyncOps(NONE, NEW)),
            ("-LnNdf", SyncOps(ALL, NONE)),
            ("--pull-renew --pull-delete --push-flags", SyncOps(RENEW | DELETE, FLAGS)),
            ("-Lnn", SyncOps(NEW, NONE)),
            ("-Ln -Ln", SyncOps(NEW, NONE)),
            ("-Ln -Lf", SyncOps(NEW | FLAGS, NONE)),
            ("-n -L", SyncOps(NEW, NONE)),  # verified
            ("--new --pull", SyncOps(NEW, NONE)),  # verified
            ("-Lf -n", SyncOps(FLAGS | NEW, NEW)),  # verified
            ("-Ln -f", SyncOps(NEW | FLAGS, FLAGS)),  # verified
            ("--push-new -d", SyncOps(DELETE, NEW | DELETE)),  # verified
            ("-L -f", SyncOps(FLAGS, NONE)),  # verified
            ("-Hf -L", SyncOps(ALL, FLAGS)),  # verified
            ("-Hn -L", SyncOps(ALL, NEW)),  # verified
            ("-L -Hn", SyncOps(ALL, NEW)),  # verified
            ("-0", SyncOps(NONE, NONE)),  # verified
            ("--noop", SyncOps(NONE, NONE)),  # verified
            ("-0 -n", SyncOps(NEW, NEW)),  # verified
            ("-0 -L", SyncOps(ALL, NONE)),  # verified
            ("-L -0", SyncOps(ALL, NONE)),  # verified
            ("-F", SyncOps(ALL, ALL)),  # verified
            ("-0 -F", SyncOps(ALL, ALL)),  # verified
            ("-F -n", SyncOps(NEW, NEW)),  # verified
            ("-n -F", SyncOps(NEW, NEW)),
            ("-F -f", SyncOps(FLAGS, FLAGS)),  # verified
            ("-F -L", SyncOps(ALL, ALL)),  # verified
            # Deliberate deviation: mbsync 1.4.4's --full syncs nothing.
            ("--full", SyncOps(ALL, ALL)),
            ("-Cfn", SyncOps(NEW, NEW)),  # verified: -Cf then -n
            ("-Cnf", SyncOps(FLAGS, FLAGS)),  # verified
        ]
        for argv, expected in rows:
            with self.subTest(argv=argv):
                self.assertEqual(_sync(argv), expected)


class BoxOptionTests(SynchronousTestCase):
    """
    C{-C}, C{-R}, C{-X} and their long forms.
    """

    def test_rows(self) -> None:
        """
        Each gives the (create, remove, expunge) overrides; C{None} keeps the
        channel's setting. Create rows were verified by syncing.
        """
        rows: list[tuple[str, tuple[object, object, object]]] = [
            ("", (None, None, None)),
            ("-C", (ALL_SIDES, None, None)),  # verified
            ("--create", (ALL_SIDES, None, None)),
            ("-Cf", (FAR, None, None)),  # verified
            ("-Cn", (NEAR, None, None)),  # verified
            ("-Cm", (FAR, None, None)),
            ("-Cs", (NEAR, None, None)),
            ("-Cf -Cn", (ALL_SIDES, None, None)),
            ("-Cf -Cf", (FAR, None, None)),
            ("--create-far --create-near", (ALL_SIDES, None, None)),
            ("--create-master", (FAR, None, None)),
            ("--create-slave", (NEAR, None, None)),
            ("-C-", (NO, None, None)),  # verified
            ("--no-create", (NO, None, None)),  # verified
            ("-Cf --no-create", (FAR, None, None)),  # verified
            ("-R", (None, ALL_SIDES, None)),
            ("-Rn", (None, NEAR, None)),
            ("--remove-far", (None, FAR, None)),
            ("--no-remove", (None, NO, None)),
            ("-X", (None, None, ALL_SIDES)),
            ("-Xf", (None, None, FAR)),
            ("--expunge-near", (None, None, NEAR)),
            ("--expunge-slave", (None, None, NEAR)),
            ("--no-expunge", (None, None, NO)),
            ("-CRX", (ALL_SIDES, ALL_SIDES, ALL_SIDES)),
            ("-CfRnX-", (FAR, NEAR, NO)),
            ("-Xnf", (None, None, NEAR)),
        ]
        for argv, expected in rows:
            with self.subTest(argv=argv):
                overrides = parse_arguments(argv.split()).overrides
                self.assertEqual((overrides.create, overrides.remove, overrides.expunge), expected)

    def test_legacy_notice(self) -> None:
        """
        C{m}/C{s} and C{-master}/C{-slave} suffixes queue mbsync's notice
        once (verified: printed once to stderr, hidden only by C{-qq}).
        """
        notice = "Notice: -master/-slave/m/s suffixes are deprecated; use -far/-near/f/n instead."
        self.assertEqual(parse_arguments(["-Cm", "-Xs"]).notices, (notice,))
        self.assertEqual(parse_arguments(["--remove-slave"]).notices, (notice,))
        self.assertEqual(parse_arguments(["-Cf"]).notices, ())


class OtherOptionTests(SynchronousTestCase):
    """
    The remaining options and the operand boundary.
    """

    def test_rows(self) -> None:
        """
        Each command line parses to the expected fields.
        """
        rows: list[tuple[list[str], dict[str, Any]]] = [
            ([], {"action": Action.SYNC, "targets": ()}),
            (["-a"], {"all_channels": True}),
            (["--all"], {"all_channels": True}),
            (["-l", "x"], {"action": Action.LIST, "targets": ("x",)}),
            (["--list"], {"action": Action.LIST}),
            (["-c", "rc"], {"config": "rc"}),
            (["--config", "rc"], {"config": "rc"}),
            (["--config=rc"], {"config": "rc"}),
            (["--config="], {"config": ""}),
            (["-lc", "rc", "x"], {"config": "rc", "action": Action.LIST, "targets": ("x",)}),
            (["-cl", "rc", "x"], {"config": "rc", "action": Action.LIST, "targets": ("x",)}),
            (["-c", "-l"], {"config": "-l", "action": Action.SYNC}),
            (["-q"], {"quiet": 1}),
            (["-qq"], {"quiet": 2}),
            (["-qqq"], {"quiet": 2}),
            (["--quiet", "--quiet"], {"quiet": 2}),
            (["-q", "-lq"], {"quiet": 2, "action": Action.LIST}),
            (["-V"], {"verbose": True}),
            (["--verbose"], {"verbose": True}),
            (["-y"], {"dry_run": True}),
            (["--dry-run"], {"dry_run": True}),
            (["chan", "-V"], {"verbose": False, "targets": ("chan", "-V")}),
            (["--", "-a"], {"all_channels": False, "targets": ("-a",)}),
            (["x", "--", "y"], {"targets": ("x", "--", "y")}),
            (["-T"], {"testing": TestingOptions()}),
            (["-Ta"], {"testing": TestingOptions(async_driver=True)}),
            (["-Tj"], {"testing": TestingOptions(keep_journal=True)}),
            (["-Tj12z"], {"testing": TestingOptions(keep_journal=True, journal_limit=12, no_mtime_wait=True)}),
        ]  # fmt: skip
        for argv, fields in rows:
            with self.subTest(argv=argv):
                parsed = parse_arguments(argv)
                self.assertEqual({name: getattr(parsed, name) for name in fields}, fields)

    def test_debug(self) -> None:
        """
        C{-D} letters and C{--debug-*} words give the categories; all but
        C{crash} imply C{-V}; bare C{-D} is everything but the C{-all}
        variants and C{crash}.
        """
        c = DebugCategory
        rows: list[tuple[list[str], frozenset[DebugCategory], bool]] = [
            (["-D"], DEBUG_ALL, True),
            (["--debug"], DEBUG_ALL, True),
            (["-DC"], frozenset({c.CRASH}), False),
            (["--debug-crash"], frozenset({c.CRASH}), False),
            (["-Dd"], frozenset({c.DRIVER}), True),
            (["-DD"], frozenset({c.DRIVER, c.DRIVER_ALL}), True),
            (["--debug-driver-all"], frozenset({c.DRIVER, c.DRIVER_ALL}), True),
            (["-Dm"], frozenset({c.MAILDIR}), True),
            (["-DM"], frozenset({c.MAIN}), True),
            (["--debug-main"], frozenset({c.MAIN}), True),
            (["-Dn"], frozenset({c.NET}), True),
            (["--debug-net-all"], frozenset({c.NET, c.NET_ALL}), True),
            (["-DmN"], frozenset({c.MAILDIR, c.NET, c.NET_ALL}), True),
            (["-Ds", "--debug-maildir"], frozenset({c.SYNC, c.MAILDIR}), True),
            (["-DCM"], frozenset({c.CRASH, c.MAIN}), True),
            (["-DC", "-V"], frozenset({c.CRASH}), True),
        ]
        for argv, categories, verbose in rows:
            with self.subTest(argv=argv):
                parsed = parse_arguments(argv)
                self.assertEqual((parsed.debug, parsed.verbose), (categories, verbose))

    def test_help_and_version_stop(self) -> None:
        """
        C{-h}/C{-v} act at once: later words, even bad ones, are ignored,
        earlier bad ones are not (verified: C{-vZ} prints the version,
        C{-Zv} fails, C{-Ln -n -v} prints the version).
        """
        for argv, action in [
            (["-v"], Action.VERSION),
            (["--version"], Action.VERSION),
            (["-vZ"], Action.VERSION),
            (["-Ln", "-n", "-v"], Action.VERSION),
            (["-h"], Action.HELP),
            (["--help"], Action.HELP),
            (["-hv"], Action.HELP),
            (["-c", "rc", "-h", "--bogus"], Action.HELP),
        ]:
            with self.subTest(argv=argv):
                self.assertEqual(parse_arguments(argv), CommandLine(action=action))
        self.assertRaises(UsageError, parse_arguments, ["-Zv"])


class ErrorTests(SynchronousTestCase):
    """
    Bad command lines raise L{UsageError} with mbsync's exact message
    (every row verified).
    """

    def test_rows(self) -> None:
        """
        Unknown options name the whole long word or the single letter.
        """
        conflict = "Conflicting {} args specified."
        notice = "Notice: -master/-slave/m/s suffixes are deprecated; use -far/-near/f/n instead."
        rows = [
            (["--bogus"], "Unknown option '--bogus'"),
            (["-Z"], "Unknown option '-Z'"),
            (["-c"], "-c requires an argument."),
            (["--config"], "--config requires an argument."),
            (["-"], "Invalid option '-'"),
            (["-Cx"], "Unknown option '-x'"),
            (["-Lx"], "Unknown option '-x'"),
            (["-Cm-"], "Unknown option '--'"),
            (["-crc2", "-l"], "Unknown option '-r'"),
            (["-Dx"], "Unknown -D flag 'x'"),
            (["-DmZ"], "Unknown -D flag 'Z'"),
            (["-Dl"], "Unknown -D flag 'l'"),
            (["-Tx"], "Unknown -T flag 'x'"),
            (["-Tzl"], "Unknown -T flag 'l'"),
            (["--create-foo"], "Unknown option '--create-foo'"),
            (["--pull-x"], "Unknown option '--pull-x'"),
            (["--pullnew"], "Unknown option '--pullnew'"),
            (["--pull-new-x"], "Unknown option '--pull-new-x'"),
            (["--new-x"], "Unknown option '--new-x'"),
            (["--debugx"], "Unknown option '--debugx'"),
            (["--debug-foo"], "Unknown option '--debug-foo'"),
            (["--ALL"], "Unknown option '--ALL'"),
            (["--=x"], "Unknown option '--=x'"),
            (["---"], "Unknown option '---'"),
            (["-Ln", "-n"], conflict.format("Sync")),
            (["-Ln", "-L"], conflict.format("Sync")),
            (["-L", "-Ln"], conflict.format("Sync")),
            (["-Ln", "-Hn", "-n"], conflict.format("Sync")),
            (["-Lnf", "-n"], conflict.format("Sync")),
            (["-Hf", "-F"], conflict.format("Sync")),
            (["-Hn", "-L", "-f"], conflict.format("Sync")),
            (["-Hn", "-H"], conflict.format("Sync")),
            (["--pull", "--pull-new"], conflict.format("Sync")),
            (["-F", "--pull-new"], conflict.format("Sync")),
            (["-Cfn", "-Ln"], conflict.format("Sync")),
            (["-C-n", "-Ln"], conflict.format("Sync")),
            (["-Cf", "-C"], conflict.format("Create")),
            (["-C", "-Cf"], conflict.format("Create")),
            (["--create", "--create-far"], conflict.format("Create")),
            (["-Rf", "-R"], conflict.format("Remove")),
            (["-Xn", "-X"], conflict.format("Expunge")),
            (["-Cf", "-C", "-Xn", "-X"], conflict.format("Create")),
            (["-Cm", "-C"], notice + "\n" + conflict.format("Create")),
            (["-Cm", "-C", "-qq"], conflict.format("Create")),
            (["-Cf", "-C", "--bogus"], "Unknown option '--bogus'"),
        ]
        for argv, message in rows:
            with self.subTest(argv=argv):
                error = self.assertRaises(UsageError, parse_arguments, argv)
                self.assertEqual(str(error), message)


_GOOD = """\
MaildirStore far
Path {root}/far/
Inbox {root}/far/INBOX

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX

Channel c
Far :far:
Near :near:
Patterns *
"""

_LEGACY = _GOOD + "\nChannel legacy\nMaster :far:\nSlave :near:\n"


class _FakeReact:
    """
    Stands in for L{task.react}: runs the coroutine on a memory reactor and
    raises C{SystemExit} as react would.
    """

    def __init__(self) -> None:
        self.reactor = MemoryReactorClock()
        self.called = False

    def __call__(self, function: Callable[[Any], Deferred[None]]) -> NoReturn:
        self.called = True
        result = function(self.reactor)
        failures: list[Any] = []
        result.addErrback(failures.append)
        if failures:
            failure = failures[0]
            if failure.check(SystemExit):
                raise failure.value
            raise SystemExit(1)
        raise SystemExit(0)


# Five errors of four kinds in an otherwise usable file (channel c would
# create both Maildirs).
_BROKEN = """\
MaildirStore far
Path {root}/far/
Inbox {root}/far/INBOX
Pss x

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX extra

Channel c
Far :far:
Near :near:
Create Both
Sync Bogus

Channel d
Far :nowhere:
Near :near:
"""


class MainTests(SynchronousTestCase):
    """
    L{main} run in-process with captured streams.
    """

    def run_main(self, *argv: str, config: str | None = _GOOD) -> tuple[int, str, str]:
        """
        Run C{msync} with a temporary configuration given as C{-c}.

        @return: exit status, stdout, stderr.
        """
        self.root = self.mktemp()
        os.makedirs(self.root)
        arguments = list(argv)
        if config is not None:
            path = os.path.join(self.root, "rc")
            with open(path, "w") as stream:
                stream.write(config.format(root=self.root))
            arguments = ["-c", path, *arguments]
        stdout, stderr = io.StringIO(), io.StringIO()
        self.react = _FakeReact()
        environ = {"HOME": self.root}
        with self.assertRaises(SystemExit) as raised:
            main(arguments, stdout=stdout, stderr=stderr, environ=environ, react=self.react)
        code = raised.exception.code
        assert isinstance(code, int)
        return code, stdout.getvalue(), stderr.getvalue()

    def test_version(self) -> None:
        """
        C{-v} prints the version and mbsync level to stdout and exits 0.
        """
        self.assertEqual(self.run_main("-v", config=None), (0, version_text() + "\n", ""))
        self.assertEqual(version_text(), f"msync {__version__} (isync 1.4.4 compatible)")

    def test_help(self) -> None:
        """
        C{-h} prints the usage to stdout and exits 0, pointing at the
        installed man pages.
        """
        code, out, err = self.run_main("--help", config=None)
        self.assertEqual((code, out, err), (0, usage_text(), ""))
        self.assertIn(" msync [flags] {{channel[:box,...]|group} ...|-a}\n", out)
        # An installed copy has the man pages, not the sources' docs/.
        self.assertIn("See 'man msync' and 'man msyncrc' for details.\n", out)
        self.assertNotIn("docs/", out)

    def test_usage_error(self) -> None:
        """
        A bad option prints mbsync's message to stderr and exits 1.
        """
        self.assertEqual(self.run_main("--bogus"), (1, "", "Unknown option '--bogus'\n"))

    def test_broken_config(self) -> None:
        """
        A broken file gives C{file:line: reason} on stderr, exit 1, and no
        file is created anywhere.
        """
        code, out, err = self.run_main("-a", config="MaildirStore x\nPath /tmp/\n\nBogus y\n")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith(os.path.join(self.root, "rc") + ":4: "), err)
        self.assertEqual(err.count("\n"), 1)
        self.assertEqual(os.listdir(self.root), ["rc"])
        self.assertFalse(self.react.called)

    def test_every_config_error(self) -> None:
        """
        Like mbsync, every error in the file is printed, in order, on
        stderr, even with C{-qq}; the status is 1 and nothing is touched.
        Verified with mbsync 1.4.4 (same lines for C{-a} and C{-qq -a}).
        """
        for argv in (["-a"], ["-qq", "-a"]):
            with self.subTest(argv=argv):
                code, out, err = self.run_main(*argv, config=_BROKEN)
                path = os.path.join(self.root, "rc")
                self.assertEqual(
                    (code, out, err),
                    (
                        1,
                        "",
                        f"{path}:4: keyword 'Pss' is not recognized in MaildirStore sections\n"
                        f"{path}:8: excess token 'extra'\n"
                        f"{path}:14: invalid Sync arg 'Bogus'\n"
                        f"{path}:17: unknown store 'nowhere'\n"
                        "channel 'd' refers to no far side store\n",
                    ),
                )
                self.assertEqual(os.listdir(self.root), ["rc"])
                self.assertFalse(self.react.called)

    def test_missing_config(self) -> None:
        """
        The default file is C{~/.mbsyncrc}; mbsync's wording when it is
        missing (verified).
        """
        code, out, err = self.run_main("-a", config=None)
        path = os.path.join(self.root, ".mbsyncrc")
        self.assertEqual(
            (code, out, err),
            (1, "", f"Cannot open config file '{path}': No such file or directory\n"),
        )

    def test_unknown_channel(self) -> None:
        """
        Only unknown names: both errors, exit 1, nothing run.
        """
        code, out, err = self.run_main("nosuch")
        self.assertEqual(
            (code, out, err),
            (
                1,
                "",
                "No channel or group named 'nosuch' defined.\n"
                "No channel specified. Try 'msync -h'\n",
            ),
        )
        self.assertFalse(self.react.called)

    def test_not_implemented(self) -> None:
        """
        Selected channels reach the asynchronous part, which says what is
        missing; the bad operand still makes the status 1. C{-l} reaches the
        stores: a missing Maildir Path fails both, as in mbsync 1.4.
        """
        code, out, err = self.run_main("nosuch", "c")
        self.assertTrue(self.react.called)
        self.assertEqual(
            (code, out, err),
            (
                1,
                "",
                "No channel or group named 'nosuch' defined.\n"
                + _missing("far", f"{self.root}/far/")
                + "\n",
            ),
        )
        code, out, err = self.run_main("-l", "c")
        self.assertEqual(
            (code, err),
            (
                1,
                _missing("far", f"{self.root}/far/")
                + "\n"
                + _missing("near", f"{self.root}/near/")
                + "\n",
            ),
        )

    def test_notices_and_verbose(self) -> None:
        """
        C{-V} prints C{Reading configuration file}; configuration and option
        notices go to stderr, before the config's (verified order), and
        C{-qq} hides them.
        """
        code, out, err = self.run_main("-V", "-Cm", "legacy", config=_LEGACY)
        path = os.path.join(self.root, "rc")
        self.assertEqual(
            out,
            f"Reading configuration file {path}\nChannel legacy\nOpening far side store far...\n",
        )
        self.assertEqual(
            err,
            "Notice: -master/-slave/m/s suffixes are deprecated; use -far/-near/f/n instead.\n"
            "Notice: Master/Slave are deprecated; use Far/Near instead.\n"
            + _missing("far", f"{self.root}/far/")
            + "\n",
        )
        code, out, err = self.run_main("-qq", "-Cm", "legacy", config=_LEGACY)
        self.assertEqual((out, err), ("", _missing("far", f"{self.root}/far/") + "\n"))


class DebugObserverTests(SynchronousTestCase):
    """
    C{-D} categories choose which modules' debug events are shown.
    """

    def test_categories(self) -> None:
        """
        The wire trace is C{net}, the IMAP store C{driver}, the Maildir store
        C{maildir}, the synchronizer C{sync}, the rest C{main}.
        """
        from msync.cli import debug_category

        self.assertEqual(
            [
                debug_category(name)
                for name in (
                    "msync.imap.protocol",
                    "msync.imap.session",
                    "msync.stores.imapstore",
                    "msync.stores.maildirbox",
                    "msync.sync.engine",
                    "msync.runner",
                )
            ],
            [
                DebugCategory.NET,
                DebugCategory.DRIVER,
                DebugCategory.DRIVER,
                DebugCategory.MAILDIR,
                DebugCategory.SYNC,
                DebugCategory.MAIN,
            ],
        )

    def test_filtering(self) -> None:
        """
        Only debug events of the given categories are shown; store notices
        always are; nothing debug without C{-D}.
        """
        from twisted.logger import LogLevel

        from msync.cli import store_message_observer

        def event(namespace: str, level: object, text: str) -> dict[str, object]:
            return {"log_namespace": namespace, "log_level": level, "log_format": text}

        for categories, expected in (
            (frozenset(), ["Maildir notice: x"]),
            (frozenset({DebugCategory.NET}), ["Maildir notice: x", "S: * OK"]),
            (frozenset({DebugCategory.SYNC}), ["Maildir notice: x", "planning"]),
        ):
            out, err = io.StringIO(), io.StringIO()
            output = Output(out, err, OutputPolicy(verbose=True))
            observe = store_message_observer(output, debug=categories)
            observe(event("msync.stores.maildirbox", LogLevel.info, "Maildir notice: x"))
            observe(event("msync.imap.protocol", LogLevel.debug, "S: * OK"))
            observe(event("msync.sync.engine", LogLevel.debug, "planning"))
            self.assertEqual(out.getvalue().splitlines(), expected)


_SILENT_SERVER = """\
IMAPAccount silent
Host 127.0.0.1
Port {port}
User u
Pass p
SSLType None
Timeout 0

IMAPStore far
Account silent

MaildirStore near
Path {root}/
Inbox {root}/INBOX

Channel c
Far :far:
Near :near:
"""


class InterruptTests(SynchronousTestCase):
    """
    Ctrl-C: msync says it was interrupted and dies of SIGINT, as mbsync
    does (the shell's status 130).
    """

    def test_handler(self) -> None:
        """
        The handler ends the progress line, prints L{INTERRUPTED} on stderr,
        restores SIGINT's default action and sends SIGINT again.
        """
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        stdout, stderr = io.StringIO(), io.StringIO()
        output = Output(stdout, stderr)
        output.progress.enabled = True
        output.progress.update(Counters(channels_total=1))
        sent: list[tuple[int, int]] = []
        handler = interrupt_handler(
            output, kill=lambda pid, sig: sent.append((pid, sig)), pid=lambda: 42
        )
        handler(signal.SIGINT, None)
        self.assertTrue(stdout.getvalue().endswith("\n"))
        self.assertEqual(stderr.getvalue(), INTERRUPTED + "\n")
        self.assertEqual(sent, [(42, signal.SIGINT)])
        self.assertIs(signal.getsignal(signal.SIGINT), signal.SIG_DFL)

    def test_handler_json(self) -> None:
        """
        With C{--json}, the interruption is a C{message} event and the
        stream still ends with a C{summary}, its status 130 and
        C{interrupted} true.
        """
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        stdout, stderr = io.StringIO(), io.StringIO()
        output = Output(stdout, stderr, json=True)
        interrupt_handler(output, kill=lambda pid, sig: None)(signal.SIGINT, None)
        events = [json.loads(line) for line in stdout.getvalue().splitlines()]
        self.assertEqual(
            events,
            [
                {"event": "message", "severity": "error", "text": INTERRUPTED},
                {"event": "summary", "status": 130, "interrupted": True},
            ],
        )
        self.assertIs(signal.getsignal(signal.SIGINT), signal.SIG_DFL)

    def test_ctrl_c_while_waiting_for_a_server(self) -> None:
        """
        C{python -m msync} waiting for a server that never answers
        (C{Timeout 0}) and sent SIGINT: it prints L{INTERRUPTED} (nothing
        about a lost connection) and ends killed by SIGINT.
        """
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(30)
        config = os.path.join(root, "rc")
        with open(config, "w") as stream:
            stream.write(_SILENT_SERVER.format(port=listener.getsockname()[1], root=root))
        os.chmod(config, 0o600)
        process = subprocess.Popen(
            [sys.executable, "-m", "msync", "-c", config, "c"],
            env=dict(os.environ, HOME=root),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.addCleanup(process.kill)
        connection, _ = listener.accept()  # msync is connected and waiting
        self.addCleanup(connection.close)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, -signal.SIGINT)
        self.assertEqual((out, err.decode()), (b"", INTERRUPTED + "\n"))


class DemoTests(SynchronousTestCase):
    """
    The demo's summary (C{scripts/demo.py}) names folders as C{msync -l}
    does.
    """

    def test_one_name_per_folder(self) -> None:
        """
        A non-ASCII folder appears under its modified UTF-7 name (as listed
        by C{msync -V -l} and as its Maildir is called), with its readable
        form in a note; ASCII names are unchanged.
        """
        path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scripts", "demo.py")
        spec = importlib.util.spec_from_file_location("msync_demo_script", path)
        assert spec is not None and spec.loader is not None
        demo = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(demo)
        lines = demo.folder_table([("INBOX", 3, 3), ("Entwürfe", 2, None)])
        self.assertEqual(
            lines,
            [
                "  folder            server  ./demo/Mail",
                "  INBOX                  3            3",
                "  Entw&APw-rfe           2            -",
                "  (names as msync -l lists them, in IMAP's modified UTF-7 like mbsync 1.4: "
                "Entw&APw-rfe is Entwürfe)",
            ],
        )


_JSON_CONFIG = """\
MaildirStore far
Path {root}/far/
Inbox {root}/far/INBOX

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX

Channel c
Far :far:
Near :near:
Create Near
"""


class JSONTests(SynchronousTestCase):
    """
    C{--json}: one JSON object per line on stdout for each event.
    """

    def test_option(self) -> None:
        """
        C{--json} is parsed and off by default.
        """
        self.assertTrue(parse_arguments(["--json", "c"]).json)
        self.assertFalse(parse_arguments(["c"]).json)

    def test_output_events(self) -> None:
        """
        With C{json}, messages and result lines become events on stdout;
        warnings and errors also go to stderr as text; the policy still
        decides what is shown.
        """
        stdout, stderr = io.StringIO(), io.StringIO()
        output = Output(stdout, stderr, OutputPolicy(quiet=1), json=True)
        output.emit(Severity.NOTICE, "hidden by -q")
        output.emit(Severity.ERROR, "Error: bad «box»")
        output.print_line("INBOX")
        output.event("box", channel="c", far="A", near="A")
        self.assertEqual(
            [json.loads(line) for line in stdout.getvalue().splitlines()],
            [
                {"event": "message", "severity": "error", "text": "Error: bad «box»"},
                {"event": "output", "text": "INBOX"},
                {"event": "box", "channel": "c", "far": "A", "near": "A"},
            ],
        )
        self.assertEqual(stderr.getvalue(), "Error: bad «box»\n")

    def test_no_events_without_json(self) -> None:
        """
        Without C{--json}, L{Output.event} writes nothing.
        """
        stdout = io.StringIO()
        Output(stdout, io.StringIO()).event("box", channel="c")
        self.assertEqual(stdout.getvalue(), "")

    def test_run(self) -> None:
        """
        C{python -m msync --json} on two Maildirs: every stdout line is a
        JSON object; the channel, its box, the box's counts and the final
        summary come in order, and nothing else is on stdout.
        """
        root = os.path.abspath(self.mktemp())
        for side in ("far", "near"):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(root, side, "INBOX", sub))
        with open(os.path.join(root, "far", "INBOX", "new", "1.1_1.h"), "w") as stream:
            stream.write("Subject: one\n\nbody\n")
        config = os.path.join(root, "rc")
        with open(config, "w") as stream:
            stream.write(_JSON_CONFIG.format(root=root))
        result = subprocess.run(
            [sys.executable, "-m", "msync", "--json", "-c", config, "c"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, HOME=root),  # the sync state goes to ~/.mbsync/
        )
        events = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        # Maildir notices come in between (how many depends on timing: the
        # one-second mtime wait).
        messages = [event for event in events if event["event"] == "message"]
        events = [event for event in events if event["event"] != "message"]
        self.assertEqual(
            [event["event"] for event in events], ["channel", "box", "box_done", "summary"]
        )
        self.assertIn(
            {
                "event": "message",
                "severity": "notice",
                "text": "Maildir notice: no UIDVALIDITY, creating new.",
            },
            messages,
        )
        self.assertEqual({message["severity"] for message in messages}, {"notice"})
        self.assertEqual(events[0], {"event": "channel", "channel": "c"})
        self.assertEqual(events[2]["stored"], {"far": 0, "near": 1})
        self.assertEqual(
            events[-1],
            {
                "event": "summary",
                "status": 0,
                "channels": {"done": 1, "total": 1},
                "boxes": {"done": 1, "total": 1},
                "to_far": {
                    "new": {"done": 0, "total": 0},
                    "flags": {"done": 0, "total": 0},
                    "trash": {"done": 0, "total": 0},
                },
                "to_near": {
                    "new": {"done": 1, "total": 1},
                    "flags": {"done": 0, "total": 0},
                    "trash": {"done": 0, "total": 0},
                },
            },
        )

    def test_summary_on_early_failure(self) -> None:
        """
        An error found before syncing (no such channel) still ends with a
        C{summary} event carrying the exit status.
        """
        stdout, stderr = io.StringIO(), io.StringIO()
        root = self.mktemp()
        os.makedirs(root)
        config = os.path.join(root, "rc")
        with open(config, "w") as stream:
            stream.write(_JSON_CONFIG.format(root=root))
        with self.assertRaises(SystemExit) as raised:
            main(
                ["--json", "-c", config, "nosuch"],
                stdout=stdout,
                stderr=stderr,
                environ={},
                react=_FakeReact(),
            )
        self.assertEqual(raised.exception.code, 1)
        events = [json.loads(line) for line in stdout.getvalue().splitlines()]
        self.assertEqual(events[-1], {"event": "summary", "status": 1})


class TerminalWidthTests(SynchronousTestCase):
    """
    L{terminal_columns}: the width the progress line must fit.
    """

    def test_columns_wins(self) -> None:
        """
        C{COLUMNS}, when set, is read as mbsync reads it.
        """
        self.assertEqual(terminal_columns(io.StringIO(), "60"), 60)
        self.assertEqual(terminal_columns(io.StringIO(), "0"), 80)

    def test_terminal_size(self) -> None:
        """
        Without C{COLUMNS}, the terminal's width is used; not a terminal: 80.
        """
        primary, secondary = os.openpty()
        self.addCleanup(os.close, primary)
        self.addCleanup(os.close, secondary)
        import fcntl
        import struct
        import termios

        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 57, 0, 0))
        with os.fdopen(os.dup(secondary), "w") as stream:
            self.assertEqual(terminal_columns(stream, None), 57)
        self.assertEqual(terminal_columns(io.StringIO(), None), 80)

    def test_resize(self) -> None:
        """
        After SIGWINCH the progress line takes the terminal's new width.
        """
        primary, secondary = os.openpty()
        self.addCleanup(os.close, primary)
        self.addCleanup(os.close, secondary)
        import fcntl
        import struct
        import termios

        with os.fdopen(os.dup(secondary), "w") as stream:
            output = Output(stream, io.StringIO())
            fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
            resize_handler(output)(signal.SIGWINCH, None)
            self.assertEqual(output.progress.columns, 120)
            fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
            resize_handler(output)(signal.SIGWINCH, None)
            self.assertEqual(output.progress.columns, 40)
