# -*- test-case-name: tests.test_runner -*-
"""
Tests for L{msync.runner}.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import parse_config
from msync.config.schema import Config
from msync.errors import MailboxError, StoreUnavailable
from msync.model import Side
from msync.plan import select_jobs
from msync.report import Counters, Severity
from msync.runner import (
    RunState,
    SyncRequest,
    _failed_store_message,
    _store_failed,
    default_store_factory,
    inbox_in_path,
    list_channels,
    state_pairing,
    sync_channels,
)
from msync.sync.statepaths import StatePaths
from tests.fakes.clocks import FakeMailReactor, clock_at_now, drive

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


def _missing(store: str, path: str) -> str:
    """
    mbsync's error for a MaildirStore whose Path is missing, and msync's
    hint naming the directory to create.
    """
    return (
        f"Maildir error: cannot open store '{path}'\n"
        f"Hint: MaildirStore {store}'s Path does not exist; create it with: mkdir -p {path}"
    )


class RecordingOutput:
    """
    An emitter that records what the runner shows.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.messages: list[tuple[Severity, str]] = []
        self.progress: list[Counters] = []
        self.events: list[dict[str, object]] = []

    def emit(self, severity: Severity, text: str) -> None:
        self.messages.append((severity, text))

    def print_line(self, text: str) -> None:
        self.lines.append(text)

    def show_progress(self, counters: Counters) -> None:
        self.progress.append(counters)

    def event(self, kind: str, **fields: object) -> None:
        self.events.append({"event": kind, **fields})


def make_box(path: str) -> None:
    """
    Create a Maildir box (cur/new/tmp) at C{path}.
    """
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


class ListFixture(SynchronousTestCase):
    """
    Maildir trees and configuration for C{msync -l}; no tests of its own.
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
        clock = FakeMailReactor()
        clock.advance(1_700_000_000)
        status = self.successResultOf(
            Deferred.fromCoroutine(
                list_channels(selection.jobs, default_store_factory(config, clock), output)
            )
        )
        self.assertEqual(status, 0, output.messages)
        return output


class ListTests(ListFixture):
    """
    C{msync -l} over Maildir stores prints what C{mbsync -l} prints.
    """

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


def sync_on_fake_clock(
    config: Config, targets: Sequence[str], watch: Any = None
) -> tuple[int, RecordingOutput]:
    """
    Synchronize C{targets} (all channels when none) of C{config} on a fake
    clock at the current time (Maildir's race guard waits on it).

    @return: the exit status and what was said.
    """
    selection = select_jobs(config, tuple(targets), all_channels=not targets)
    output = RecordingOutput()
    clock = clock_at_now(FakeMailReactor())
    status = drive(
        clock,
        sync_channels(
            config,
            selection.jobs,
            default_store_factory(config, clock),
            SyncRequest(),
            output,
            watch,
        ),
    )
    return status, output


class SyncFixture(SynchronousTestCase):
    """
    Maildir trees and configuration for L{sync_channels}, run on a fake
    clock; no tests of its own.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        for box in ("INBOX", "x", "y"):
            make_box(os.path.join(self.root, "far", box))
            with open(os.path.join(self.root, "far", box, "new", "1.1_1.h"), "w") as stream:
                stream.write(f"Subject: {box}\n\nbody\n")
        os.makedirs(os.path.join(self.root, "near"))

    def run_sync(self, *targets: str, watch: Any = None) -> tuple[int, RecordingOutput]:
        """
        Synchronize C{targets} on a fake clock at the current time (Maildir's
        race guard waits on it).
        """
        text = SYNC_CONFIG.format(root=self.root)
        # The store is defined after the channel using it: move it first.
        head, _, store = text.partition("\nMaildirStore missing\n")
        config = parse_config("MaildirStore missing\n" + store + "\n" + head, "rc", home=self.root)
        return sync_on_fake_clock(config, targets, watch=watch)

    def near_files(self, box: str) -> list[str]:
        """
        The message files of a near box.
        """
        base = os.path.join(self.root, "near", box)
        return [name for sub in ("cur", "new") for name in os.listdir(os.path.join(base, sub))]


class SyncTests(SyncFixture):
    """
    L{sync_channels} isolates failures per box pair and per store, as
    mbsync does, and reports progress.
    """

    def test_watch(self) -> None:
        """
        A L{PairWatch} hears of each pair's result, and its stopping()
        stops the run before the next pair (the daemon's SIGTERM).
        """
        seen: list[tuple[str, str, int | None, object]] = []

        class Watch:
            def stopping(self) -> bool:
                return len(seen) >= 2

            def pair_finished(
                self, channel: Any, pair: Any, result: Any, error: Exception | None
            ) -> None:
                stored = None if result is None else result.stored[Side.NEAR]
                seen.append((channel.name, pair.far, stored, error))

        status, _ = self.run_sync("c", "c", watch=Watch())
        self.assertEqual(status, 0)
        self.assertEqual(seen, [("c", "INBOX", 1, None), ("c", "x", 1, None)])
        self.assertFalse(os.path.exists(os.path.join(self.root, "near", "y")))

    def test_json_events(self) -> None:
        """
        The runner reports each channel, each box pair it starts and each
        it finishes, with what was stored on each side (for C{--json}); a
        channel whose store fails reports no boxes.
        """
        status, output = self.run_sync("broken", "c")
        self.assertEqual(status, 1)
        kinds = [(e["event"], e.get("channel"), e.get("far")) for e in output.events]
        self.assertEqual(
            kinds,
            [
                ("channel", "broken", None),
                ("channel", "c", None),
                ("box", "c", "INBOX"),
                ("box_done", "c", "INBOX"),
                ("box", "c", "x"),
                ("box_done", "c", "x"),
                ("box", "c", "y"),
                ("box_done", "c", "y"),
            ],
        )
        self.assertEqual(
            output.events[3],
            {
                "event": "box_done",
                "channel": "c",
                "far": "INBOX",
                "near": "INBOX",
                "ok": True,
                "stored": {"far": 0, "near": 1},
                "flag_updates": {"far": 0, "near": 0},
                "trashed": {"far": 0, "near": 0},
                "expunged": {"far": 0, "near": 0},
                "unchanged": False,
            },
        )

    def test_failed_store_skips_channel(self) -> None:
        """
        A store that cannot be opened fails its channel with mbsync's
        message; the other channel still syncs.
        """
        status, output = self.run_sync("broken", "c")
        self.assertEqual(status, 1)
        self.assertIn(
            (Severity.ERROR, _missing("missing", f"{self.root}/nowhere/")),
            output.messages,
        )
        self.assertEqual(len(self.near_files("x")), 1)

    def test_failed_store_reported_once(self) -> None:
        """
        A later channel using a store that already failed is skipped with
        mbsync's info message (shown with C{-V}), not a second error.
        """
        status, output = self.run_sync("broken", "broken")
        self.assertEqual(status, 1)
        errors = [text for severity, text in output.messages if severity is Severity.ERROR]
        self.assertEqual(errors, [_missing("missing", f"{self.root}/nowhere/")])
        self.assertIn(
            (Severity.INFO, "Skipping due to failed near side store missing."), output.messages
        )


LAYOUT_CONFIG = """\
MaildirStore f
Path {root}/far/
Inbox {root}/far/INBOX
SubFolders Verbatim

MaildirStore n
Path {root}/near/
Inbox {root}/near/INBOX

Channel c
Far :f:
Near :n:
Patterns * !d
Create Near
SyncState *

Channel later
Far :f:
Near :n:
Patterns d
Create Near
SyncState *
"""


class LayoutErrorTests(SynchronousTestCase):
    """
    A subfolder on a Maildir store without a SubFolders style: mbsync 1.4.4
    (checked against Dovecot) says only C{Maildir error: ...}, skips the
    rest of that channel (a "bad store") and still uses the store for the
    next channel.
    """

    def test_channel_stops_next_channel_runs(self) -> None:
        """
        The error, the boxes before it synchronized, those after it not,
        and the next channel on the same store synchronized.
        """
        root = os.path.abspath(self.mktemp())
        for box in ("INBOX", "a", "b/c", "d", "e"):
            make_box(os.path.join(root, "far", box))
            with open(os.path.join(root, "far", box, "new", "1.1_1.h"), "w") as stream:
                stream.write(f"Subject: {box}\n\nbody\n")
        os.makedirs(os.path.join(root, "near"))
        config = parse_config(LAYOUT_CONFIG.format(root=root), "rc", home=root)
        status, output = sync_on_fake_clock(config, ("c", "later"))
        self.assertEqual(status, 1)
        errors = [text for severity, text in output.messages if severity is Severity.ERROR]
        self.assertEqual(
            errors,
            [
                "Maildir error: accessing subfolder 'b/c', but store 'n' does not"
                " specify SubFolders style"
            ],
        )
        near = sorted(os.listdir(os.path.join(root, "near")))
        # INBOX and a before the error, not e after it; d by the later channel.
        self.assertEqual(near, ["INBOX", "a", "d"])
        box = os.path.join(root, "near", "d")
        files = os.listdir(os.path.join(box, "new")) + os.listdir(os.path.join(box, "cur"))
        self.assertEqual(len(files), 1)


class DriverErrorTests(SynchronousTestCase):
    """
    A Maildir driver error skipping a box is printed as mbsync prints it:
    C{Maildir error: ...} alone, not after C{Error: } (checked with mbsync
    1.4.4); the other boxes are synchronized.
    """

    def test_no_valid_mailbox(self) -> None:
        """
        A near box whose C{new} is a file.
        """
        root = os.path.abspath(self.mktemp())
        for box in ("INBOX", "Bad", "Good"):
            make_box(os.path.join(root, "far", box))
            with open(os.path.join(root, "far", box, "new", "1.1_1.h"), "w") as stream:
                stream.write(f"Subject: {box}\n\nbody\n")
        bad = os.path.join(root, "near", "Bad")
        os.makedirs(os.path.join(bad, "cur"))
        with open(os.path.join(bad, "new"), "w") as stream:
            stream.write("not a directory\n")
        text = SYNC_CONFIG.format(root=root).partition("\nChannel broken\n")[0]
        config = parse_config(text, "rc", home=root)
        status, output = sync_on_fake_clock(config, ("c",))
        self.assertEqual(status, 1)
        errors = [text for severity, text in output.messages if severity is Severity.ERROR]
        self.assertEqual(errors, [f"Maildir error: '{bad}' is no valid mailbox"])
        good = os.path.join(root, "near", "Good")
        self.assertEqual(len(os.listdir(os.path.join(good, "new"))), 1)


class FailedStoreMessageTests(SynchronousTestCase):
    """
    Later channels of a failed store are skipped with mbsync's wording,
    which says "temporarily" for network failures only.
    """

    def test_temporary_and_final(self) -> None:
        """
        The store an error names is marked failed, temporarily when the
        error says so; a refusal (e.g. a wrong password) is final.
        """
        text = SYNC_CONFIG.format(root="/r").partition("\nChannel broken\n")[0]
        config = parse_config(text, "rc", home="/r")
        channel = config.channel("c")
        assert channel is not None
        for temporary, word in ((True, "temporarily failed"), (False, "failed")):
            run = RunState(lambda store: None)  # type: ignore[arg-type, return-value]
            output = RecordingOutput()
            error = StoreUnavailable("down", store="f", temporary=temporary)
            _store_failed(run, channel, output, error)
            self.assertEqual(run.failed, {"f"})
            self.assertEqual(
                _failed_store_message(channel, run), f"Skipping due to {word} far side store f."
            )


class StatePairingTests(SynchronousTestCase):
    """
    L{msync.runner.state_pairing} tells the Maildir UID trap repair which
    UIDs the sync state pairs (issue 8).
    """

    def paths(self) -> StatePaths:
        """
        State paths in a fresh directory.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        state = os.path.join(base, ".mbsyncstate")
        return StatePaths(state, state + ".journal", state + ".new", state + ".lock", None)

    def test_records(self) -> None:
        """
        Every live record's UID on each side counts (0, an unborn side,
        does not).
        """
        paths = self.paths()
        with open(paths.state, "w") as handle:
            handle.write(
                "FarUidValidity 1\nNearUidValidity 2\nMaxPulledUid 9\nMaxPushedUid 7\n\n"
                "1 1 S\n3 2 \n9 0 \n0 7 \n"
            )
        self.assertEqual(
            state_pairing(paths),
            {Side.FAR: frozenset({1, 3, 9}), Side.NEAR: frozenset({1, 2, 7})},
        )

    def test_no_state(self) -> None:
        """
        Without a state nothing is paired.
        """
        self.assertEqual(
            state_pairing(self.paths()), {Side.FAR: frozenset(), Side.NEAR: frozenset()}
        )

    def test_unknown(self) -> None:
        """
        A journal to replay, or a state that does not parse: unknown
        (C{None}), so every UID counts as paired.
        """
        paths = self.paths()
        with open(paths.state, "w") as handle:
            handle.write("garbage\n")
        self.assertIsNone(state_pairing(paths))
        with open(paths.state, "w") as handle:
            handle.write("FarUidValidity 1\nNearUidValidity 2\nMaxPulledUid 1\nMaxPushedUid 1\n\n")
        with open(paths.journal, "w") as handle:
            handle.write("4\n")
        self.assertIsNone(state_pairing(paths))


class _GatedStore:
    """
    A store whose C{open_box} waits for the test to open the gate of that
    box (or to fail it); everything else is the real store's.
    """

    def __init__(self, store: Any, gates: dict[str, Deferred[None]], opened: list[str]) -> None:
        self._store = store
        self._gates = gates
        self._opened = opened

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def open_box(self, name: str, create: bool = False, read_only: bool = False) -> Deferred[Any]:
        return Deferred.fromCoroutine(self._open(name, create, read_only))

    async def _open(self, name: str, create: bool, read_only: bool) -> Any:
        self._opened.append(name)
        await self._gates.setdefault(name, Deferred())
        return await self._store.open_box(name, create=create, read_only=read_only)


class ParallelTests(SyncFixture):
    """
    C{--parallel N} (L{SyncRequest.parallel}): a channel's box pairs sync
    at once over stores of their own, and say what they say in the order
    of the pairs.
    """

    def start(self, parallel: int) -> tuple[Deferred[int], RecordingOutput, Any]:
        text = SYNC_CONFIG.format(root=self.root)
        head, _, store = text.partition("\nMaildirStore missing\n")
        config = parse_config("MaildirStore missing\n" + store + "\n" + head, "rc", home=self.root)
        selection = select_jobs(config, ("c",), all_channels=False)
        self.clock = clock_at_now(FakeMailReactor())
        base = default_store_factory(config, self.clock)
        self.gates: dict[str, Deferred[None]] = {}
        self.opened: list[str] = []
        self.made: list[str] = []

        def factory(section: Any) -> Any:
            self.made.append(section.name)
            made = base(section)
            return _GatedStore(made, self.gates, self.opened) if section.name == "f" else made

        output = RecordingOutput()
        request = SyncRequest(parallel=parallel)
        run = Deferred.fromCoroutine(
            sync_channels(config, selection.jobs, factory, request, output)
        )
        return run, output, base

    def settle(self, steps: int = 5) -> None:
        for _ in range(steps):
            self.clock.advance(1)

    def finish(self, run: Deferred[int]) -> int:
        for box in ("INBOX", "x", "y"):
            gate = self.gates.setdefault(box, Deferred())
            if not gate.called:
                gate.callback(None)
        return drive(self.clock, run)

    def test_interleaved(self) -> None:
        """
        Two pairs are under way at once, each over a far store of its own;
        the one finishing first waits to be reported until the one before
        it is: events and messages come in the order of the pairs.
        """
        run, output, _ = self.start(2)
        self.settle()
        self.assertEqual(sorted(self.opened), ["INBOX", "x"])
        self.assertEqual(self.made.count("f"), 2)
        self.gates["x"].callback(None)
        self.settle()
        self.assertEqual(self.near_files("x"), [self.near_files("x")[0]])
        self.assertEqual([e for e in output.events if e["event"] != "channel"], [])
        self.assertEqual(self.finish(run), 0)
        kinds = [(e["event"], e.get("far")) for e in output.events]
        self.assertEqual(
            kinds,
            [
                ("channel", None),
                ("box", "INBOX"),
                ("box_done", "INBOX"),
                ("box", "x"),
                ("box_done", "x"),
                ("box", "y"),
                ("box_done", "y"),
            ],
        )
        for box in ("INBOX", "x", "y"):
            self.assertEqual(len(self.near_files(box)), 1, box)
        self.assertEqual(output.progress[-1].boxes_done, 3)
        self.assertEqual(output.progress[-1].near.new_done, 3)

    def test_failure_stays_in_its_pair(self) -> None:
        """
        A pair that fails while another runs fails alone: the others sync,
        the error is reported in the failed pair's place, the status is 1.
        """
        run, output, _ = self.start(3)
        self.settle()
        self.assertEqual(sorted(self.opened), ["INBOX", "x", "y"])
        self.gates["x"].errback(MailboxError("x is broken"))
        self.assertEqual(self.finish(run), 1)
        self.assertEqual(
            [text for _, text in output.messages if "broken" in text], ["Error: x is broken"]
        )
        self.assertEqual(len(self.near_files("INBOX")), 1)
        self.assertEqual(len(self.near_files("y")), 1)
        self.assertFalse(os.path.exists(os.path.join(self.root, "near", "x")))
        done = [(e["far"], e["ok"]) for e in output.events if e["event"] == "box_done"]
        self.assertEqual(done, [("INBOX", True), ("x", False), ("y", True)])

    def test_one_lane_is_serial(self) -> None:
        """
        C{--parallel 1} is the serial run: one far store, pairs one by one.
        """
        run, _, _ = self.start(1)
        self.settle()
        self.assertEqual(self.opened, ["INBOX"])
        self.assertEqual(self.finish(run), 0)
        self.assertEqual(self.made.count("f"), 1)


class SkippedUpgradeMaskTests(SynchronousTestCase):
    """
    L{skipped_upgrade_mask}: a pair skipped as unchanged masks isync 1.5's
    C{Upgrade} as the pair's own run would (it holds no placeholder).
    """

    def test_mask(self) -> None:
        """
        Following 1.5: every side whose operations include C{Upgrade};
        following 1.4: none.
        """
        from msync.runner import skipped_upgrade_mask
        from tests.sync.scenarios import options

        self.assertEqual(skipped_upgrade_mask(options(isync15=True)), frozenset(Side))
        self.assertEqual(
            skipped_upgrade_mask(options("pull-renew push-new", isync15=True)),
            frozenset({Side.NEAR}),
        )
        self.assertEqual(skipped_upgrade_mask(options("pull-new", isync15=True)), frozenset())
        self.assertEqual(skipped_upgrade_mask(options()), frozenset())
