# -*- test-case-name: tests.test_cmdline -*-
"""
Tests for L{msync.cmdline}: mbsync's command line (operations, options,
errors, usage and version text), parsed without side effects.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from msync.cmdline import (
    DEBUG_ALL,
    Action,
    CommandLine,
    DebugCategory,
    TestingOptions,
    parse_arguments,
)
from msync.config.schema import ALL_SIDES, SyncOp, SyncOps
from msync.errors import UsageError
from msync.model import Side

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

    def test_expunge_solo(self) -> None:
        """
        isync 1.5's C{-x}/C{--expunge-solo[-far|-near]}/C{--no-expunge-solo}
        give the C{ExpungeSolo} override, apart from C{-X}'s, and are
        listed as options mbsync 1.4.4 does not know (as written, in order).
        """
        rows: list[tuple[str, object, object, tuple[str, ...]]] = [
            ("", None, None, ()),
            ("-x", ALL_SIDES, None, ("-x",)),
            ("-xf", FAR, None, ("-x",)),
            ("-xn -X", NEAR, ALL_SIDES, ("-x",)),
            ("-Xf -xn", NEAR, FAR, ("-x",)),
            ("-x-", NO, None, ("-x",)),
            ("--expunge-solo", ALL_SIDES, None, ("--expunge-solo",)),
            ("--expunge-solo-far", FAR, None, ("--expunge-solo-far",)),
            ("--expunge-solo-near --expunge", NEAR, ALL_SIDES, ("--expunge-solo-near",)),
            ("--no-expunge-solo", NO, None, ("--no-expunge-solo",)),
            ("-Cx", ALL_SIDES, None, ("-x",)),
        ]
        for argv, solo, expunge, unknown in rows:
            with self.subTest(argv=argv):
                command = parse_arguments(argv.split())
                self.assertEqual(command.overrides.expunge_solo, solo)
                self.assertEqual(command.overrides.expunge, expunge)
                self.assertEqual(command.isync15_only, unknown)

    def test_expunge_solo_errors(self) -> None:
        """
        A bad suffix is an unknown option; C{-x} with a side conflicts
        as C{-X} with a side does.
        """
        for argv, message in [
            (["--expunge-solo-x"], "Unknown option '--expunge-solo-x'"),
            (["--expunge-sol"], "Unknown option '--expunge-sol'"),
            (["-x", "-xf"], "Conflicting ExpungeSolo args specified."),
        ]:
            with self.subTest(argv=argv):
                error = self.assertRaises(UsageError, parse_arguments, argv)
                self.assertEqual(str(error), message)


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
            (["--compat", "1.5", "-a"], {"compat": "1.5", "all_channels": True}),
            (["--compat=1.4"], {"compat": "1.4"}),
            (["--parallel", "4", "-a"], {"parallel": 4, "all_channels": True}),
            (["--parallel=16"], {"parallel": 16}),
            (["-a"], {"parallel": 1}),
            (["--migrate-names"], {"migrate_names": True}),
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
            (["-Cw"], "Unknown option '-w'"),
            (["-Lw"], "Unknown option '-w'"),
            (["-Cm-"], "Unknown option '--'"),
            (["-crc2", "-l"], "Unknown option '-r'"),
            (["-Dx"], "Unknown -D flag 'x'"),
            (["-DmZ"], "Unknown -D flag 'Z'"),
            (["-Dl"], "Unknown -D flag 'l'"),
            (["-Tx"], "Unknown -T flag 'x'"),
            (["--parallel", "0"], "--parallel needs a number from 1 to 16, not '0'."),
            (["--parallel=17"], "--parallel needs a number from 1 to 16, not '17'."),
            (["--parallel=x"], "--parallel needs a number from 1 to 16, not 'x'."),
            (["--parallel"], "--parallel requires an argument."),
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
            (["-Cf", "-C", "-Xn", "-X"], conflict.format("Expunge")),
            (["-Cm", "-C"], notice + "\n" + conflict.format("Create")),
            (["-Cm", "-C", "-qq"], conflict.format("Create")),
            (["-Cf", "-C", "--bogus"], "Unknown option '--bogus'"),
        ]
        for argv, message in rows:
            with self.subTest(argv=argv):
                error = self.assertRaises(UsageError, parse_arguments, argv)
                self.assertEqual(str(error), message)


class Conflicts15Tests(SynchronousTestCase):
    """
    With isync 1.5 chosen explicitly, conflicting operation options are
    merged and worded as 1.5.0 does (each row run with the oracle: the
    lines on stderr, exit status 1); without it, 1.4.4's words.
    """

    def test_rows(self) -> None:
        """
        C{Conflicting} (C{-0}/C{--no-create} with more), C{Redundant} and
        C{Invalid combination}; Sync first, then Expunge, ExpungeSolo,
        Create, Remove; the notices for C{-N}/C{-d} and the legacy
        suffixes before.
        """
        where = "on the command line."
        rows = [
            (["-Ln", "-L"], f"Redundant Sync options specified {where}"),
            (["-Ln", "-n"], f"Redundant Sync options specified {where}"),
            (["--full", "-Ln"], f"Redundant Sync options specified {where}"),
            (["-Ln", "-0"], f"Conflicting Sync options specified {where}"),
            (["--noop", "--full"], f"Conflicting Sync options specified {where}"),
            (
                ["-Ln", "-H", "-f"],
                f"Invalid combination of simple and compound Sync options {where}",
            ),
            (["-F", "-Ln"], f"Invalid combination of simple and compound Sync options {where}"),
            (["-C", "-Cf"], f"Redundant Create options specified {where}"),
            (["--no-create", "-Cf"], f"Conflicting Create options specified {where}"),
            (["--no-expunge-solo", "-x"], f"Conflicting ExpungeSolo options specified {where}"),
            (["-x", "-xn", "-C", "-Cf"], f"Redundant ExpungeSolo options specified {where}"),
            (["-R", "-Rn", "-X", "-Xf"], f"Redundant Expunge options specified {where}"),
            (
                ["-N", "-Ln", "-L"],
                "Notice: --renew/-N are deprecated; use --upgrade/-u instead.\n"
                f"Invalid combination of simple and compound Sync options {where}",
            ),
            (
                ["-Cm", "-C"],
                "Notice: -master/-slave/m/s suffixes are deprecated; use -far/-near/f/n"
                f" instead.\nRedundant Create options specified {where}",
            ),
        ]
        for argv, message in rows:
            with self.subTest(argv=argv):
                error = self.assertRaises(UsageError, parse_arguments, ["--compat", "1.5", *argv])
                self.assertEqual(str(error), message)
                error = self.assertRaises(UsageError, parse_arguments, argv, "1.5")
                self.assertEqual(str(error), message)

    def test_merged_as_15(self) -> None:
        """
        What 1.5 accepts: C{-Lo -L} pulls every type; C{--full} is every
        type both ways; C{-d -N -Ln -Lf} adds the types to the cells.
        """
        every = SyncOp.ALL | SyncOp.OLD
        rows = [
            (["-Lo", "-L"], SyncOps(every, SyncOp.NONE)),
            (["--full"], SyncOps(every, every)),
            (["-F"], SyncOps(SyncOp.ALL, SyncOp.ALL)),
            (["-0"], SyncOps(SyncOp.NONE, SyncOp.NONE)),
            (
                ["-d", "-N", "-Ln", "-Lf"],
                SyncOps(SyncOp.ALL, SyncOp.DELETE | SyncOp.RENEW),
            ),
        ]
        for argv, expected in rows:
            with self.subTest(argv=argv):
                command = parse_arguments(argv, "1.5")
                self.assertEqual(command.overrides.sync, expected)
        self.assertEqual(parse_arguments(["-C-", "-Cf"], "1.5").overrides.create, {Side.FAR})

    def test_14_wording_kept(self) -> None:
        """
        Following 1.4 (chosen, or not chosen yet), 1.4.4's words, and
        C{-0}/C{--no-create} add nothing.
        """
        argv = ["--compat", "1.4", "-Ln", "-L"]
        error = self.assertRaises(UsageError, parse_arguments, argv, "1.5")
        self.assertEqual(str(error), "Conflicting Sync args specified.")
        error = self.assertRaises(UsageError, parse_arguments, ["-Ln", "-L"])
        self.assertEqual(str(error), "Conflicting Sync args specified.")
        self.assertEqual(
            parse_arguments(["-Ln", "-0"]).overrides.sync, SyncOps(SyncOp.NEW, SyncOp.NONE)
        )
        self.assertEqual(parse_arguments(["--no-create", "-Cf"]).overrides.create, {Side.FAR})
        # mbsync 1.4.4 checks Expunge before Create, Create before Remove.
        error = self.assertRaises(UsageError, parse_arguments, ["-X", "-Xn", "-C", "-Cf"])
        self.assertEqual(str(error), "Conflicting Expunge args specified.")
        error = self.assertRaises(UsageError, parse_arguments, ["-R", "-Rn", "-C", "-Cf"])
        self.assertEqual(str(error), "Conflicting Create args specified.")
