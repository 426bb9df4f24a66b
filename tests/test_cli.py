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
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, NoReturn

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from msync import __version__
from msync.cli import (
    INTERRUPTED,
    LAZY_MODULES,
    Output,
    Prepared,
    asyncio_stand_in,
    interrupt_handler,
    main,
    resize_handler,
    start_connecting,
    terminal_columns,
    uses_tls,
)
from msync.cmdline import CommandLine, DebugCategory, parse_arguments, usage_text, version_text
from msync.compat import Generation
from msync.config.load import parse_config
from msync.config.schema import Config
from msync.imap import preconnect
from msync.imap.earlytalk import EarlyLogin, EarlyTalk
from msync.model import Secret
from msync.plan import select_jobs
from msync.report import Counters, OutputPolicy, Severity


def _missing(store: str, path: str) -> str:
    """
    mbsync's error for a MaildirStore whose Path is missing, and msync's
    hint naming the directory to create.
    """
    return (
        f"Maildir error: cannot open store '{path}'\n"
        f"Hint: MaildirStore {store}'s Path does not exist; create it with: mkdir -p {path}"
    )


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
        # The generation is fixed so that the tests do not depend on the
        # mbsync installed (msync.compatprobe asks it otherwise).
        environ = {"HOME": self.root, "MSYNC_COMPAT": "1.4"}
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
            f"Reading configuration file {path}\n"
            "Following mbsync 1.4: MSYNC_COMPAT=1.4\n"
            "Channel legacy\nOpening far side store far...\n",
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

    def test_compat_line_and_errors(self) -> None:
        """
        C{--compat} beats C{MSYNC_COMPAT} in the C{-V} line; an unknown
        generation is a usage error, exit 1.
        """
        code, out, err = self.run_main("-V", "--compat", "1.5", "-Cm", "legacy", config=_LEGACY)
        self.assertIn("Following mbsync 1.5: --compat 1.5\n", out)
        code, out, err = self.run_main("--compat", "2.0", "-a")
        self.assertEqual(
            (code, err), (1, "--compat: unknown mbsync generation '2.0' (use 1.4 or 1.5)\n")
        )


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


class Isync15OutputTests(SynchronousTestCase):
    """
    Following isync 1.5 (C{MSYNC_COMPAT=1.5} or C{--compat 1.5}), what
    the user sees is 1.5's (checked against mbsync 1.5.0 in
    C{tests/integration/test_output15.py}).
    """

    def run_main(
        self, *argv: str, config: str | None = _GOOD, compat: str = "1.5"
    ) -> tuple[int, str, str, bool]:
        """
        Run C{msync} following C{compat}.

        @return: exit status, stdout, stderr, whether the reactor ran.
        """
        root = self.mktemp()
        os.makedirs(root)
        arguments = list(argv)
        if config is not None:
            path = os.path.join(root, "rc")
            with open(path, "w") as stream:
                stream.write(config.format(root=root))
            arguments = ["-c", path, *arguments]
        stdout, stderr = io.StringIO(), io.StringIO()
        react = _FakeReact()
        environ = {"HOME": root, "MSYNC_COMPAT": compat}
        with self.assertRaises(SystemExit) as raised:
            main(arguments, stdout=stdout, stderr=stderr, environ=environ, react=react)
        code = raised.exception.code
        assert isinstance(code, int)
        return code, stdout.getvalue(), stderr.getvalue(), react.called

    def test_help_and_version(self) -> None:
        """
        C{-h} and C{-v} follow an explicit choice: 1.5's options and
        release; C{--compat} before them counts too.
        """
        code, out, _, _ = self.run_main("-h", config=None)
        self.assertEqual((code, out), (0, usage_text(Generation.V15)))
        self.assertIn("  -ls, --list-stores\traw listing of stores' mailboxes\n", out)
        self.assertIn("  -u, --upgrade\t\tupgrade placeholders to full messages\n", out)
        self.assertNotIn("--renew", out)
        code, out, _, _ = self.run_main("--compat", "1.4", "-v", config=None)
        self.assertEqual(out, version_text(Generation.V14) + "\n")
        code, out, _, _ = self.run_main("-v", config=None)
        self.assertEqual(out, f"msync {__version__} (isync 1.5.0 compatible)\n")
        self.assertEqual(parse_arguments(["--compat", "1.5", "-h"]).compat, "1.5")

    def test_bad_operand_stops_everything(self) -> None:
        """
        isync 1.5 reports a bad operand alone (no C{No channel specified})
        and synchronizes nothing, not even the good operands; 1.4 goes on.
        """
        self.assertEqual(
            self.run_main("nosuch", "c"),
            (1, "", "No channel or group named 'nosuch' defined.\n", False),
        )
        self.assertEqual(
            self.run_main("nosuch"), (1, "", "No channel or group named 'nosuch' defined.\n", False)
        )
        self.assertTrue(self.run_main("nosuch", "c", compat="1.4")[3])

    def test_no_channels(self) -> None:
        """
        Without any channel, 1.5 points at the command's manual.
        """
        config = "MaildirStore far\nPath {root}/far/\n"
        self.assertEqual(
            self.run_main("-a", config=config)[:3],
            (1, "", "No channels defined. Try 'man msync'\n"),
        )

    def test_option_notices_before_config(self) -> None:
        """
        1.5 prints its notices for C{-N}/C{-d} while parsing, so before the
        errors of a broken configuration (1.4 has no such notices).
        """
        code, _, err, _ = self.run_main("-N", "-d", "c", config=_GOOD + "Bogus line\n")
        self.assertEqual(code, 1)
        self.assertEqual(
            err.splitlines()[:2],
            [
                "Notice: --renew/-N are deprecated; use --upgrade/-u instead.",
                "Notice: --delete/-d are deprecated; use --gone/-g instead.",
            ],
        )
        self.assertIn("keyword 'Bogus' is not recognized", err.splitlines()[2])

    def test_unknown_store_alone(self) -> None:
        """
        1.5 reports a channel's unknown store without adding that the
        channel refers to no store on that side; 1.4 says both.
        """
        config = _GOOD + "\nChannel d\nFar :far:\nNear :nosuch:\n"
        err15 = self.run_main("c", config=config)[2]
        err14 = self.run_main("c", config=config, compat="1.4")[2]
        self.assertRegex(err15, r"^\S+/rc:16: unknown store 'nosuch'\n$")
        self.assertRegex(
            err14,
            r"^\S+/rc:16: unknown store 'nosuch'\nchannel 'd' refers to no near side store\n$",
        )

    def test_conflicts(self) -> None:
        """
        Conflicting operation options: 1.5's words in the configuration
        and on the command line (with its C{-N} notice first), 1.4.4's
        when following 1.4; what only 1.5 accepts (C{Sync PullOld Pull})
        runs, and following 1.4 its word is unknown, as to 1.4.4.
        """
        config = _GOOD + "Sync PullNew Pull\n"
        self.assertEqual(
            self.run_main("c", config=config),
            (1, "", "Redundant Sync options specified in Channel 'c'.\n", False),
        )
        self.assertEqual(
            self.run_main("c", config=config, compat="1.4"),
            (1, "", "Conflicting Sync args specified.\n", False),
        )
        self.assertEqual(
            self.run_main("-N", "-Ln", "-L", "c"),
            (
                1,
                "",
                "Notice: --renew/-N are deprecated; use --upgrade/-u instead.\n"
                "Invalid combination of simple and compound Sync options on the command line.\n",
                False,
            ),
        )
        self.assertEqual(
            self.run_main("-Ln", "-L", "c", compat="1.4"),
            (1, "", "Conflicting Sync args specified.\n", False),
        )
        config = _GOOD + "Sync PullOld Pull\n"
        _, _, err, ran = self.run_main("c", config=config)
        self.assertTrue(ran)
        self.assertNotIn("Sync", err)
        code, _, err, ran = self.run_main("c", config=config, compat="1.4")
        self.assertEqual((code, ran), (1, False))
        self.assertRegex(err, r"^\S+/rc:13: invalid Sync arg 'PullOld'\n$")


class UsesTLSTests(SynchronousTestCase):
    """
    L{uses_tls}: whether a run may need TLS (else its reactor is installed
    without it).
    """

    def config(self, ssl_type: str | None) -> Config:
        account = "IMAPAccount a\nHost example.org\nUser u\nPass p\n"
        if ssl_type is not None:
            account += f"SSLType {ssl_type}\n"
        text = (
            account + "\nIMAPStore far\nAccount a\n\n"
            "MaildirStore near\nPath /m/\n\nChannel c\nFar :far:\nNear :near:\n"
        )
        return parse_config(text, "rc", home="/home/u")

    def test_ssl_types(self) -> None:
        """
        C{None} needs no TLS; C{STARTTLS} (also the default) and C{IMAPS} do.
        """
        self.assertFalse(uses_tls(self.config("None")))
        self.assertTrue(uses_tls(self.config("STARTTLS")))
        self.assertTrue(uses_tls(self.config("IMAPS")))
        self.assertTrue(uses_tls(self.config(None)))

    def test_maildir_only(self) -> None:
        """
        Without IMAP stores no TLS is needed.
        """
        text = (
            "MaildirStore a\nPath /a/\n\nMaildirStore b\nPath /b/\n\nChannel c\nFar :a:\nNear :b:\n"
        )
        self.assertFalse(uses_tls(parse_config(text, "rc", home="/home/u")))


class AsyncioStandInTests(SynchronousTestCase):
    """
    L{asyncio_stand_in}: what C{twisted.internet.defer} imports from
    C{asyncio}, without loading it.
    """

    def setUp(self) -> None:
        # Run as if asyncio were not loaded; put the real one back after.
        self.addCleanup(sys.modules.update, self.unload())

    def unload(self) -> dict[str, ModuleType]:
        """
        Take C{asyncio} and its submodules out of C{sys.modules}.

        @return: what was taken.
        """
        taken = {
            name: module
            for name, module in sys.modules.items()
            if name == "asyncio" or name.startswith("asyncio.")
        }
        for name in taken:
            del sys.modules[name]
        return taken

    def test_what_defer_imports(self) -> None:
        """
        Inside the block, C{from asyncio import AbstractEventLoop, Future,
        iscoroutine} loads nothing, and C{iscoroutine} answers as the real
        one does; after it, C{asyncio} is unloaded again.
        """
        real = importlib.import_module("asyncio")
        self.unload()

        async def coroutine() -> None:
            pass

        def generator() -> Iterator[int]:
            yield 1

        with asyncio_stand_in():
            from asyncio import AbstractEventLoop, Future, iscoroutine

            self.assertIsNot(sys.modules["asyncio"], real)
        self.assertNotIn("asyncio", sys.modules)
        self.assertEqual(
            (AbstractEventLoop.__name__, Future.__name__), ("AbstractEventLoop", "Future")
        )
        made = coroutine()
        values: list[object] = [made, generator(), Deferred(), 1, None, coroutine]
        self.assertEqual(
            [iscoroutine(value) for value in values],
            [real.iscoroutine(value) for value in values],
        )
        self.assertEqual([iscoroutine(value) for value in values][:4], [True, True, False, False])
        made.close()

    def test_other_names_real(self) -> None:
        """
        Any other name loads the real C{asyncio}, which stays loaded.
        """
        with asyncio_stand_in():
            from asyncio import get_event_loop_policy

            self.assertNotEqual(type(sys.modules["asyncio"]).__name__, "_AsyncioStandIn")
        self.assertIs(sys.modules["asyncio"].get_event_loop_policy, get_event_loop_policy)

    def test_loaded_already(self) -> None:
        """
        With the real C{asyncio} loaded, nothing changes.
        """
        real = importlib.import_module("asyncio")
        with asyncio_stand_in():
            self.assertIs(importlib.import_module("asyncio"), real)
        self.assertIs(sys.modules["asyncio"], real)


def _channel_c(account: str, argv: Sequence[str]) -> tuple[Config, CommandLine]:
    """
    The configuration of channel C{c}, from an IMAP store whose account
    C{a} has the lines C{account} to a Maildir, and the command line
    C{argv} naming it.
    """
    text = (
        f"IMAPAccount a\n{account}"
        "\nIMAPStore far\nAccount a\n\nMaildirStore near\nPath /m/\n\n"
        "Channel c\nFar :far:\nNear :near:\n"
    )
    return parse_config(text, "rc", home="/home/u"), parse_arguments([*argv, "c"], None)


class StartConnectingTests(SynchronousTestCase):
    """
    L{start_connecting}: which connections start before Twisted loads.
    """

    def started(
        self,
        ssl_type: str,
        *argv: str,
        host: str = "Host example.org\n",
        credentials: str = "User u\nPass p\n",
    ) -> list[object]:
        """
        What L{start_connecting} starts for channel C{c} with the far store's
        account of C{SSLType ssl_type}.
        """
        config, command = _channel_c(
            f"{host}Port 1143\nTimeout 7\n{credentials}SSLType {ssl_type}\n", argv
        )
        jobs = select_jobs(config, command.targets, all_channels=command.all_channels).jobs
        calls: list[object] = []
        self.talks: list[EarlyTalk] = []

        def start(*args: object, talk: EarlyTalk) -> None:
            calls.append(args)
            self.talks.append(talk)

        self.patch(preconnect, "start", start)
        start_connecting(Prepared(command, config, jobs, 0))
        return calls

    def test_plain(self) -> None:
        """
        A plain account's server is connected to early, for a sync or a
        listing, within its Timeout.
        """
        self.assertEqual(self.started("None"), [("example.org", 1143, 7)])
        self.assertEqual(self.started("None", "-l"), [("example.org", 1143, 7)])

    def test_talk(self) -> None:
        """
        The early connection logs in with the account's User, Pass and
        AuthMechs, on a connection made as the store's protocol makes its
        own (PipelineDepth, DisableExtension); with no Pass (PassCmd or a
        prompt), it only waits for the greeting.
        """
        self.started("None\nAuthMechs LOGIN\nPipelineDepth 3\nDisableExtension MOVE")
        [talk] = self.talks
        self.assertEqual(talk.login, EarlyLogin("u", Secret("p"), ("LOGIN",)))
        connection = talk.connection
        self.assertEqual((connection.pipeline_depth, connection.disabled), (3, {b"MOVE"}))
        self.started("None", credentials='User u\nPassCmd "echo p"\n')
        self.assertIsNone(self.talks[0].login)
        # STARTTLS: connected early, but the login waits for TLS.
        self.assertEqual(self.started("STARTTLS"), [("example.org", 1143, 7)])
        self.assertIsNone(self.talks[0].login)

    def test_not(self) -> None:
        """
        Not for IMAPS (TLS from the first byte), a Tunnel, nor with -V or
        -D (whose lines say when msync connects).
        """
        self.assertEqual(self.started("IMAPS"), [])
        self.assertEqual(self.started("None", host='Tunnel "nc x 143"\n'), [])
        self.assertEqual(self.started("None", "-V"), [])
        self.assertEqual(self.started("None", "-Dn"), [])


class CommandEntryTests(SynchronousTestCase):
    """
    L{msync.__main__.main}, the console script: the collector is off from
    before L{msync.cli} loads, and L{msync.cli.main} is told to turn it back
    on.
    """

    def test_collector_off_then_handed_over(self) -> None:
        """
        L{msync.cli.main} runs with the collector off and is given whether
        it ran before.
        """
        import gc

        import msync.__main__ as command
        import msync.cli

        seen: list[tuple[bool, object]] = []

        def fake_main(*, collecting: bool | None = None) -> NoReturn:
            seen.append((gc.isenabled(), collecting))
            raise SystemExit(0)

        self.patch(msync.cli, "main", fake_main)
        if gc.isenabled():
            self.addCleanup(gc.enable)
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            self.assertRaises(SystemExit, command.main)
        self.assertEqual(seen, [(False, True), (False, False)])

    def test_lazy_modules(self) -> None:
        """
        The lazily loaded modules never include Twisted's TLS, which a run
        without TLS must find missing.
        """
        self.assertNotIn("twisted.internet.ssl", LAZY_MODULES)
        self.assertNotIn("twisted.protocols.tls", LAZY_MODULES)
        self.assertIn("twisted.internet.udp", LAZY_MODULES)


class LoadEarlyTalkTests(SynchronousTestCase):
    """
    L{msync.cli._load_early_talk}, done while C{mbsync --version} answers:
    it imports the early connection's modules exactly when
    L{start_connecting} may use them.
    """

    def imported(self, ssl_type: str, *argv: str, extra: str = "") -> list[str]:
        """
        The modules L{msync.cli._load_early_talk} imports for a far store
        of C{SSLType ssl_type} and the command line C{argv}.
        """
        import msync.cli

        config, command = _channel_c(f"Host example.org\n{extra}SSLType {ssl_type}\n", argv)
        names: list[str] = []

        class _Importer:
            @staticmethod
            def import_module(name: str) -> ModuleType:
                names.append(name)
                return sys.modules[name]

        self.patch(msync.cli, "importlib", _Importer)
        msync.cli._load_early_talk(command, config)
        return names

    def test_loaded(self) -> None:
        """
        A sync or a listing with a plain or STARTTLS store loads the
        early connection's module.
        """
        self.assertEqual(self.imported("None"), ["msync.imap.preconnect"])
        self.assertEqual(self.imported("STARTTLS"), ["msync.imap.preconnect"])
        self.assertEqual(self.imported("None", "-l"), ["msync.imap.preconnect"])

    def test_not_loaded(self) -> None:
        """
        Not for IMAPS, a Tunnel, C{-V}, C{-D}, nor C{--list-stores}-like
        actions: nothing would connect early.
        """
        self.assertEqual(self.imported("IMAPS"), [])
        self.assertEqual(self.imported("None", extra='Tunnel "nc host 143"\n'), [])
        self.assertEqual(self.imported("None", "-V"), [])
        self.assertEqual(self.imported("None", "-D"), [])
