"""
Tests for L{msync.cli}: the option grammar, the effective operations, the
error messages and the C{msync} command run in-process.

Rows marked "verified" were compared with mbsync 1.4.4: error rows by their
exact stderr and exit status; operation rows by syncing a Maildir pair with
one new message on each side and one box on each side only (which messages
were pulled/pushed, which boxes created).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any, NoReturn

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from msync import __version__
from msync.cli import Output, main
from msync.cmdline import DebugCategory, usage_text, version_text
from msync.report import OutputPolicy

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
        C{-h} prints the usage to stdout and exits 0.
        """
        code, out, err = self.run_main("--help", config=None)
        self.assertEqual((code, out, err), (0, usage_text(), ""))
        self.assertIn(" msync [flags] {{channel[:box,...]|group} ...|-a}\n", out)

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
                "No channel specified. Try 'mbsync -h'\n",
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
                f"Maildir error: cannot open store '{self.root}/far/'\n",
            ),
        )
        code, out, err = self.run_main("-l", "c")
        self.assertEqual(
            (code, err),
            (
                1,
                f"Maildir error: cannot open store '{self.root}/far/'\n"
                f"Maildir error: cannot open store '{self.root}/near/'\n",
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
            f"Maildir error: cannot open store '{self.root}/far/'\n",
        )
        code, out, err = self.run_main("-qq", "-Cm", "legacy", config=_LEGACY)
        self.assertEqual((out, err), ("", f"Maildir error: cannot open store '{self.root}/far/'\n"))


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
