# -*- test-case-name: tests.test_runner -*-
"""
Tests for L{msync.runner}.
"""

from __future__ import annotations

import os
import subprocess

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import parse_config
from msync.plan import select_jobs
from msync.report import Counters, Severity
from msync.runner import default_store_factory, inbox_in_path, list_channels

CONFIG = """\
MaildirStore f
Path {root}/far/
Inbox {far_inbox}
SubFolders Verbatim

MaildirStore n
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel one
Far :f:
Near :n:
Patterns *

Channel two
Far :f:a
Near :n:
Patterns *

Channel three
Far :f:
Near :n:

Channel four
Far :f:
Near :n:
Patterns * !c !a/*
"""


class RecordingOutput:
    """
    An emitter that records what the runner shows.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.messages: list[tuple[Severity, str]] = []
        self.progress: list[Counters] = []

    def emit(self, severity: Severity, text: str) -> None:
        self.messages.append((severity, text))

    def print_line(self, text: str) -> None:
        self.lines.append(text)

    def show_progress(self, counters: Counters) -> None:
        self.progress.append(counters)


def make_box(path: str) -> None:
    """
    Create a Maildir box (cur/new/tmp) at C{path}.
    """
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


class ListTests(SynchronousTestCase):
    """
    C{msync -l} over Maildir stores prints what C{mbsync -l} prints.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        for box in ("far/INBOX", "far/a", "far/a/b", "near/INBOX", "near/c"):
            make_box(os.path.join(self.root, box))

    def config_text(self, far_inbox: str | None = None) -> str:
        """
        The test configuration, with the far INBOX inside Path by default.
        """
        inbox = far_inbox or f"{self.root}/far/INBOX"
        return CONFIG.format(root=self.root, far_inbox=inbox)

    def run_list(self, targets: list[str], far_inbox: str | None = None) -> RecordingOutput:
        """
        Run the listing for C{targets}; return the recorded output.
        """
        config = parse_config(self.config_text(far_inbox), "rc", home=self.root)
        selection = select_jobs(config, targets, all_channels=False)
        output = RecordingOutput()
        clock = Clock()
        clock.advance(1_700_000_000)
        status = self.successResultOf(
            Deferred.fromCoroutine(
                list_channels(selection.jobs, default_store_factory(config, clock), output)
            )
        )
        self.assertEqual(status, 0, output.messages)
        return output

    def test_several_channels(self) -> None:
        """
        With several channels each gets a C{name:} header; prefixes give
        C{far <=> near} lines, including the prefix box itself.
        """
        output = self.run_list(["one", "two", "three", "four"])
        self.assertEqual(
            output.lines,
            [
                "one:",
                "INBOX",
                "a",
                "a/b",
                "c",
                "two:",
                "aINBOX <=> INBOX",
                "a <=> ",
                "a/b <=> /b",
                "ac <=> c",
                "three:",
                "INBOX <=> INBOX",
                "four:",
                "INBOX",
                "a",
            ],
        )

    def test_inbox_outside_path(self) -> None:
        """
        C{*} reaches INBOX only when some side's INBOX lives in its Path.
        """
        os.rename(os.path.join(self.root, "far/INBOX"), os.path.join(self.root, "finbox"))
        output = self.run_list(["one"], far_inbox=f"{self.root}/finbox")
        self.assertEqual(output.lines, ["INBOX", "a", "a/b", "c"])

    def test_same_as_mbsync(self) -> None:
        """
        The real mbsync 1.4 lists the same lines for the same tree.
        """
        rc = os.path.join(self.root, "rc")
        with open(rc, "w") as stream:
            stream.write(self.config_text())
        result = subprocess.run(
            ["mbsync", "-c", rc, "-l", "one", "two", "three", "four"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        output = self.run_list(["one", "two", "three", "four"])
        self.assertEqual(output.lines, result.stdout.splitlines())


class InboxInPathTests(SynchronousTestCase):
    """
    L{inbox_in_path} decides whether C{*} may reach INBOX.
    """

    def test_maildir(self) -> None:
        """
        INBOX under Path counts; elsewhere, or without Path, it does not.
        """
        config = parse_config(
            "MaildirStore a\nPath /m/\nInbox /m/INBOX\n\n"
            "MaildirStore b\nPath /m/\nInbox /x/INBOX\n\n"
            "MaildirStore c\nInbox /m/INBOX\n",
            "rc",
            home="/h",
        )
        self.assertEqual([inbox_in_path(s) for s in config.stores], [True, False, False])
