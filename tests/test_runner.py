# -*- test-case-name: tests.test_runner -*-
"""
Tests for L{msync.runner}.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from msync.config.load import parse_config
from msync.plan import select_jobs
from msync.report import Counters, Severity
from msync.runner import (
    SyncRequest,
    default_store_factory,
    inbox_in_path,
    list_channels,
    sync_channels,
)

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


SYNC_CONFIG = """\
MaildirStore f
Path {root}/far/
Inbox {root}/far/INBOX
SubFolders Verbatim

MaildirStore n
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel c
Far :f:
Near :n:
Patterns *
Create Near
SyncState *

Channel broken
Far :f:
Near :missing:

MaildirStore missing
Path {root}/nowhere/
"""


class SyncTests(TestCase):
    """
    L{sync_channels} isolates failures per box pair and per store, as
    mbsync does, and reports progress.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        for box in ("INBOX", "x", "y"):
            make_box(os.path.join(self.root, "far", box))
            with open(os.path.join(self.root, "far", box, "new", "1.1_1.h"), "w") as stream:
                stream.write(f"Subject: {box}\n\nbody\n")
        os.makedirs(os.path.join(self.root, "near"))

    async def run_sync(self, *targets: str) -> tuple[int, RecordingOutput]:
        """
        Synchronize C{targets} with the real reactor.
        """
        from twisted.internet import reactor

        text = SYNC_CONFIG.format(root=self.root)
        # The store is defined after the channel using it: move it first.
        head, _, store = text.partition("\nMaildirStore missing\n")
        config = parse_config("MaildirStore missing\n" + store + "\n" + head, "rc", home=self.root)
        selection = select_jobs(config, targets, all_channels=not targets)
        output = RecordingOutput()
        clock = cast(IReactorTime, reactor)
        status = await sync_channels(
            config,
            selection.jobs,
            default_store_factory(config, clock),
            SyncRequest(),
            output,
            clock,
        )
        return status, output

    def near_files(self, box: str) -> list[str]:
        """
        The message files of a near box.
        """
        base = os.path.join(self.root, "near", box)
        return [name for sub in ("cur", "new") for name in os.listdir(os.path.join(base, sub))]

    def test_locked_pair_fails_alone(self) -> None:
        """
        A pair whose state is locked by another process fails with mbsync's
        message; the channel's other pairs are synchronized; status 1.
        """
        make_box(os.path.join(self.root, "near", "x"))
        lock_path = os.path.join(self.root, "near", "x", ".mbsyncstate.lock")
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys, time\n"
                f"fd = os.open({lock_path!r}, os.O_WRONLY | os.O_CREAT, 0o666)\n"
                "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)  # type: ignore[union-attr]
        self.assertEqual(holder.stdout.readline(), "locked\n")  # type: ignore[union-attr]

        async def check() -> None:
            status, output = await self.run_sync("c")
            self.assertEqual(status, 1)
            self.assertIn((Severity.ERROR, "Error: channel :f:x-:n:x is locked"), output.messages)
            self.assertEqual(len(self.near_files("INBOX")), 1)
            self.assertEqual(len(self.near_files("y")), 1)
            self.assertEqual(self.near_files("x"), [])
            last = output.progress[-1]
            self.assertEqual((last.channels_done, last.boxes_done, last.boxes_total), (1, 3, 3))
            self.assertEqual((last.near.new_done, last.near.new_total), (2, 2))

        return Deferred.fromCoroutine(check())  # type: ignore[return-value]

    def test_failed_store_skips_channel(self) -> None:
        """
        A store that cannot be opened fails its channel with mbsync's
        message; the other channel still syncs.
        """

        async def check() -> None:
            status, output = await self.run_sync("broken", "c")
            self.assertEqual(status, 1)
            self.assertIn(
                (Severity.ERROR, f"Maildir error: cannot open store '{self.root}/nowhere/'"),
                output.messages,
            )
            self.assertEqual(len(self.near_files("x")), 1)

        return Deferred.fromCoroutine(check())  # type: ignore[return-value]
