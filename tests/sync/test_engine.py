# -*- test-case-name: tests.sync.test_engine -*-
"""
Tests for L{msync.sync.engine}: scenario tables ("far, near and state before
→ run with these options → far, near and state after") run on memory
stores in every line ending and UIDPLUS combination of
L{tests.sync.scenarios.VARIANTS}. Rows marked C{mbsync=True} have their
expected results taken from mbsync 1.4.4 run on equivalent Maildir trees.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import MailboxError, StoreUnavailable, UnreadExcess
from msync.model import Flags, Side, parse_tracking_headers
from msync.report import Severity
from msync.sync.copyrun import FETCH_AHEAD
from msync.sync.engine import COPIES_IN_FLIGHT
from msync.sync.results import PairProgress
from tests.sync.scenarios import (
    BOX,
    VARIANTS,
    Message,
    Pair,
    Scenario,
    Variant,
    add_row_tests,
    contents,
    message_text,
    normalize,
    options,
    populate,
    run_scenario,
    state,
)

ROWS = [
    Scenario(
        "first sync copies both ways",
        far=[(1, "S", "a"), (2, "", "b")],
        near=[(1, "F", "c")],
        far_after=[(1, "S", "a"), (2, "", "b"), (3, "F", "c")],
        near_after=[(1, "F", "c"), (2, "S", "a"), (3, "", "b")],
        after=state(3, 3, "3 1 F", "1 2 S", "2 3"),
        mbsync=True,
    ),
    Scenario(
        "flags propagate both ways",
        far=[(1, "S", "a")],
        near=[(1, "F", "a")],
        before=state(1, 1, "1 1"),
        options=options(),
        far_after=[(1, "FS", "a")],
        near_after=[(1, "FS", "a")],
        after=state(1, 1, "1 1 FS"),
        mbsync=True,
    ),
    Scenario(
        "flag removal propagates",
        far=[(1, "", "a")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        far_after=[(1, "", "a")],
        near_after=[(1, "", "a")],
        after=state(1, 1, "1 1"),
        mbsync=True,
    ),
    Scenario(
        "same change on both sides is no conflict",
        far=[(1, "RS", "a")],
        near=[(1, "FS", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        far_after=[(1, "FRS", "a")],
        near_after=[(1, "FRS", "a")],
        after=state(1, 1, "1 1 FRS"),
        mbsync=True,
    ),
    Scenario(
        "far expunge propagates as T",
        far=[],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        far_after=[],
        near_after=[(1, "ST", "a")],
        after=state(1, 1, "0 1 S"),
        mbsync=True,
    ),
    Scenario(
        "near expunge propagates as T",
        far=[(1, "S", "a"), (2, "", "b")],
        near=[(2, "", "b")],
        before=state(2, 2, "1 1 S", "2 2"),
        options=options(),
        far_after=[(1, "ST", "a"), (2, "", "b")],
        near_after=[(2, "", "b")],
        after=state(2, 2, "1 0 S", "2 2"),
        mbsync=True,
    ),
    Scenario(
        "far expunge propagated and expunged",
        far=[],
        near=[(1, "S", "a"), (2, "", "b")],
        before=state(0, 2, "0 1 S", "0 2"),
        options=options(expunge="both"),
        far_after=[],
        near_after=[(1, "S", "a"), (2, "", "b")],
        after=state(0, 2, "0 1 S", "0 2"),
        mbsync=True,
    ),
    Scenario(
        "deletion not propagated without Delete",
        far=[],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options("pull-new pull-flags push"),
        far_after=[],
        near_after=[(1, "S", "a")],
        after=state(1, 1, "1 1 S"),
        mbsync=True,
    ),
    Scenario(
        "T travels as a flag",
        far=[(1, "S", "a")],
        near=[(1, "ST", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        far_after=[(1, "ST", "a")],
        near_after=[(1, "ST", "a")],
        after=state(1, 1, "1 1 ST"),
        mbsync=True,
    ),
    Scenario(
        "T with Expunge Both removes both",
        far=[(1, "S", "a"), (2, "S", "b")],
        near=[(1, "ST", "a"), (2, "S", "b")],
        before=state(2, 2, "1 1 S", "2 2 S"),
        options=options(expunge="both"),
        far_after=[(2, "S", "b")],
        near_after=[(2, "S", "b")],
        after=state(2, 2, "2 2 S"),
        mbsync=True,
    ),
    Scenario(
        "Expunge Far only orphans the near copy",
        far=[(1, "S", "a")],
        near=[(1, "ST", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="far"),
        far_after=[],
        near_after=[(1, "ST", "a")],
        after=state(1, 1, "0 1 ST"),
        mbsync=True,
    ),
    Scenario(
        "Expunge Near only orphans the far copy",
        far=[(1, "ST", "a")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="near"),
        far_after=[(1, "ST", "a")],
        near_after=[],
        after=state(1, 1, "1 0 ST"),
        mbsync=True,
    ),
    Scenario(
        "PullNew only",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "S", "a"), (2, "", "c")],
        before=state(1, 1, "1 1"),
        options=options("pull-new"),
        far_after=[(1, "", "a"), (2, "S", "b")],
        near_after=[(1, "S", "a"), (2, "", "c"), (3, "S", "b")],
        after=state(2, 1, "1 1", "2 3 S"),
        mbsync=True,
    ),
    Scenario(
        "Push only",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "S", "a"), (2, "", "c")],
        before=state(1, 1, "1 1"),
        options=options("push"),
        far_after=[(1, "S", "a"), (2, "S", "b"), (3, "", "c")],
        near_after=[(1, "S", "a"), (2, "", "c")],
        after=state(1, 2, "1 1 S", "3 2"),
        mbsync=True,
    ),
    Scenario(
        "Sync None changes nothing",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1"),
        options=options("none"),
        far_after=[(1, "", "a"), (2, "S", "b")],
        near_after=[(1, "S", "a")],
        after=state(1, 1, "1 1"),
        mbsync=True,
    ),
    Scenario(
        "new deleted message is not propagated into an expunged box",
        far=[(1, "T", "a"), (2, "", "b")],
        near=[],
        options=options(expunge="near"),
        far_after=[(1, "T", "a"), (2, "", "b")],
        near_after=[(1, "", "b")],
        after=state(2, 1, "2 1"),
        mbsync=True,
    ),
    Scenario(
        "new deleted message is propagated into a kept box",
        far=[(1, "T", "a")],
        near=[],
        options=options(),
        far_after=[(1, "T", "a")],
        near_after=[(1, "T", "a")],
        after=state(1, 1, "1 1 T"),
        mbsync=True,
    ),
    Scenario(
        "new deleted message expunged on its side",
        far=[(1, "T", "a"), (2, "", "b")],
        near=[],
        options=options(expunge="both"),
        far_after=[(2, "", "b")],
        near_after=[(1, "", "b")],
        after=state(2, 1, "2 1"),
        mbsync=True,
    ),
    Scenario(
        "messages at or below the max UID without a record are ignored",
        far=[(1, "", "a"), (2, "", "b")],
        near=[(1, "", "c")],
        before=state(2, 1),
        options=options(),
        far_after=[(1, "", "a"), (2, "", "b")],
        near_after=[(1, "", "c")],
        after=state(2, 1),
        mbsync=True,
    ),
    Scenario(
        "conflicting flag change and expunge",
        far=[],
        near=[(1, "FS", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        far_after=[],
        near_after=[(1, "FST", "a")],
        after=state(1, 1, "0 1 S"),
        notices=["Notice: conflicting changes in (1,1)"],
        mbsync=True,
    ),
    Scenario(
        "both gone kills the record",
        far=[],
        near=[],
        before=state(1, 1, "1 1 S"),
        options=options(),
        far_after=[],
        near_after=[],
        after=state(1, 1),
        mbsync=True,
    ),
    Scenario(
        "pending copy retried after lost record",
        far=[(1, "", "a"), (3, "", "c")],
        near=[(1, "", "a")],
        before=state(1, 1, "1 1"),
        options=options(),
        far_after=[(1, "", "a"), (3, "", "c")],
        near_after=[(1, "", "a"), (2, "", "c")],
        after=state(3, 2, "1 1", "3 2"),
        mbsync=True,
    ),
    Scenario(
        "Trash far moves deleted messages there",
        far=[(1, "ST", "a"), (2, "T", "b"), (3, "", "c")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="both", far_trash="Trash"),
        far_after=[(3, "", "c")],
        near_after=[(2, "", "c")],
        far_trash=[(0, "ST", "a"), (0, "T", "b")],
        after=state(3, 2, "3 2"),
        mbsync=True,
    ),
    Scenario(
        "TrashNewOnly trashes only unpropagated messages",
        far=[(1, "ST", "a"), (2, "T", "b"), (3, "", "c")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="both", far_trash="Trash", far_trash_new_only=True),
        far_after=[(3, "", "c")],
        near_after=[(2, "", "c")],
        far_trash=[(0, "T", "b")],
        after=state(3, 2, "3 2"),
        mbsync=True,
    ),
    Scenario(
        "TrashRemoteNew copies unpropagated deletions into the other Trash",
        far=[(1, "ST", "a"), (2, "T", "b"), (3, "", "c")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="both", near_trash="Trash", near_trash_remote_new=True),
        far_after=[(3, "", "c")],
        near_after=[(2, "", "c")],
        near_trash=[(0, "ST", "a"), (0, "T", "b")],
        after=state(3, 2, "3 2"),
        mbsync=True,
    ),
    Scenario(
        "MaxMessages expires old read messages",
        far=[(1, "S", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near=[],
        options=options(max_messages=2, expire_unread=True),
        far_after=[(1, "S", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near_after=[(1, "S", "c"), (2, "S", "d")],
        after=state(4, 2, "3 1 S", "4 2 S", expired=2),
        mbsync=True,
    ),
    Scenario(
        "MaxMessages keeps flagged messages",
        far=[(1, "FS", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near=[(1, "FS", "a"), (2, "S", "b")],
        before=state(2, 2, "1 1 FS", "2 2 S"),
        options=options(expunge="near", max_messages=2, expire_unread=True),
        far_after=[(1, "FS", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near_after=[(1, "FS", "a"), (3, "S", "c"), (4, "S", "d")],
        after=state(4, 4, "1 1 FS", "3 3 S", "4 4 S", expired=2),
        mbsync=True,
    ),
    Scenario(
        "MaxMessages with ExpireUnread no keeps unread",
        far=[(1, "", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near=[],
        options=options(expunge="near", max_messages=2, expire_unread=False),
        far_after=[(1, "", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near_after=[(1, "", "a"), (2, "S", "c"), (3, "S", "d")],
        after=state(4, 3, "1 1", "3 2 S", "4 3 S", expired=2),
        mbsync=True,
    ),
    Scenario(
        "MaxMessages expiry is not propagated back",
        far=[(1, "S", "a"), (2, "S", "b"), (3, "S", "c")],
        near=[(1, "ST", "a"), (2, "S", "b"), (3, "S", "c")],
        before=state(3, 3, "1 1 ~S", "2 2 S", "3 3 S"),
        options=options(expunge="near", max_messages=2, expire_unread=True),
        far_after=[(1, "S", "a"), (2, "S", "b"), (3, "S", "c")],
        near_after=[(2, "S", "b"), (3, "S", "c")],
        after=state(3, 3, "2 2 S", "3 3 S", expired=1),
        mbsync=True,
    ),
    Scenario(
        "MaxSize makes placeholders",
        far=[(1, "", "a"), (2, "", "big"), (3, "F", "bigflagged")],
        near=[],
        options=options(near_max_size=1024),
        big=("big", "bigflagged"),
        far_after=[(1, "", "a"), (2, "", "big"), (3, "F", "bigflagged")],
        near_after=[(1, "", "a"), (2, "", "[placeholder] big"), (3, "F", "bigflagged")],
        after=state(3, 3, "1 1", "2 2 >", "3 3 F"),
        mbsync=True,
    ),
    Scenario(
        "flagging a placeholder upgrades it with ReNew",
        far=[(1, "S", "big")],
        near=[(1, "F", "[placeholder] big")],
        before=state(1, 1, "1 1 >"),
        options=options(near_max_size=1024),
        big=("big",),
        far_after=[(1, "S", "big")],
        near_after=[(1, "FT", "[placeholder] big"), (2, "S", "big")],
        after=state(1, 2, "1 2 S", "0 1 T"),
        mbsync=True,
    ),
    Scenario(
        "undeleting after the partner's expunge is not propagated",
        near=[(1, "", "a")],
        before=state(1, 1, "0 1 T"),
        options=options(expunge="both"),
        far_after=[],
        near_after=[(1, "", "a")],
        after=state(1, 1, "0 1 T"),
        mbsync=True,
    ),
]


class ScenarioTests(SynchronousTestCase):
    """
    The scenario table: one test method per row (added below).
    """


def _run_row(case: SynchronousTestCase, scenario: Scenario) -> None:
    for variant in VARIANTS:
        run_scenario(case, scenario, variant)


add_row_tests(
    ScenarioTests,
    ROWS,
    lambda scenario: scenario.name,
    _run_row,
    "Scenario {name!r} gives its expected far, near, Trash and state contents "
    "on every store variant.",
)


def prepared(
    case: SynchronousTestCase, far: list[Message], near: list[Message], **kwargs: object
) -> Pair:
    """
    A pair with these boxes (on the default variant) and an optional state.
    """
    variant = kwargs.pop("variant", Variant())
    pair = Pair.create(case.mktemp(), variant)  # type: ignore[arg-type]
    populate(pair.far, far)
    populate(pair.near, near)
    pair.reopen()
    pair.write_state(kwargs.pop("before", None))  # type: ignore[arg-type]
    return pair


class UIDValidityTests(SynchronousTestCase):
    """
    UIDVALIDITY changes are detected and, where Message-IDs confirm the
    pairing, recovered from (checked with mbsync 1.4.4).
    """

    def test_recovered(self) -> None:
        """
        A renumbered box whose paired messages keep their Message-IDs is
        accepted with mbsync's notice and its new UIDVALIDITY recorded.
        """
        pair = prepared(self, [(1, "", "a"), (2, "", "b")], [(1, "", "a"), (2, "", "b")])
        pair.write_state(state(2, 2, "1 1", "2 2"))
        pair.near.renumber(BOX)
        pair.sync(self, options())
        self.assertEqual(pair.read_state(), state(2, 2, "1 1", "2 2", uv=(1, 2)))
        self.assertIn(
            (
                Severity.NOTICE,
                "Notice: channel test, near side box INBOX: Recovered from change of UIDVALIDITY.",
            ),
            pair.notices,
        )

    def test_genuinely_changed(self) -> None:
        """
        A pair whose Message-IDs differ proves a real change: the box pair
        fails and the state stays.
        """
        pair = prepared(self, [(1, "", "a"), (2, "", "b")], [(1, "", "b"), (2, "", "a")])
        pair.write_state(state(2, 2, "1 1", "2 2"))
        pair.near.renumber(BOX)
        failure = pair.fail(self, options(), MailboxError)
        self.assertEqual(
            str(failure.value),
            "channel test, near side box INBOX: UIDVALIDITY genuinely changed (at UID 1).",
        )
        self.assertEqual(pair.read_state(), state(2, 2, "1 1", "2 2"))

    def test_too_few_confirmations(self) -> None:
        """
        Fewer than 20 confirmed pairs and under 80 % of the records: mbsync
        gives up.
        """
        far = [(uid, "", name) for uid, name in enumerate("abcde", 1)]
        pair = prepared(self, far, [(1, "", "a")])
        pair.write_state(state(5, 5, "1 1", "2 2", "3 3", "4 4", "5 5"))
        pair.near.renumber(BOX)
        failure = pair.fail(self, options(), MailboxError)
        self.assertEqual(
            str(failure.value),
            "channel test, near side box INBOX: Unable to recover from UIDVALIDITY change.",
        )

    def test_both_changed(self) -> None:
        """
        Both sides renumbered: no recovery is attempted.
        """
        pair = prepared(self, [(1, "", "a")], [(1, "", "a")])
        pair.write_state(state(1, 1, "1 1"))
        pair.far.renumber(BOX)
        pair.near.renumber(BOX)
        failure = pair.fail(self, options(), MailboxError)
        self.assertEqual(
            str(failure.value),
            "channel test: UIDVALIDITY of both far side INBOX and near side INBOX changed.",
        )


class BoxTests(SynchronousTestCase):
    """
    Missing boxes: Create, Remove and mbsync's errors.
    """

    def test_missing_without_create(self) -> None:
        """
        A missing box that may not be created fails the pair with mbsync's
        wording.
        """
        pair = Pair.create(self.mktemp())
        populate(pair.far, [(1, "", "a")])
        pair.reopen()
        failure = pair.fail(self, options(), MailboxError)
        self.assertEqual(str(failure.value), "channel test: near side box INBOX cannot be opened.")

    def test_create(self) -> None:
        """
        With Create the missing box is created and filled.
        """
        pair = Pair.create(self.mktemp())
        populate(pair.far, [(1, "S", "a")])
        pair.reopen()
        result = pair.sync(self, options(create="near"))
        self.assertEqual(contents(pair.near), [(1, "S", "a")])
        self.assertEqual(result.created, frozenset({Side.NEAR}))
        self.assertTrue(result.changed(Side.NEAR))

    def test_both_missing(self) -> None:
        """
        Neither box exists and there is no state: an error. With a state,
        mbsync assumes an interrupted box deletion and drops the state.
        """
        pair = Pair.create(self.mktemp())
        failure = pair.fail(self, options(), MailboxError)
        self.assertEqual(
            str(failure.value),
            "channel test: both far side INBOX and near side INBOX cannot be opened.",
        )
        pair.write_state(state(1, 1, "1 1"))
        self.assertTrue(pair.sync(self, options()).state_deleted)
        self.assertIsNone(pair.read_state())

    def test_remove_empty(self) -> None:
        """
        With Remove, the partner of a vanished box is deleted if it holds
        nothing but deleted messages, and the state with it.
        """
        pair = Pair.create(self.mktemp())
        pair.box = "sub/box"
        populate(pair.near, [(1, "T", "a")], box=pair.box)
        pair.reopen()
        pair.write_state(state(1, 1, "1 1 T"))
        result = pair.sync(self, options(remove="near"))
        self.assertEqual(result.deleted_box, Side.NEAR)
        self.assertEqual(pair.near.boxes(), [])
        self.assertIsNone(pair.read_state())

    def test_remove_not_empty(self) -> None:
        """
        A partner that still holds messages is kept, with mbsync's warning.
        """
        pair = Pair.create(self.mktemp())
        populate(pair.near, [(1, "", "a")])
        pair.reopen()
        pair.write_state(state(1, 1, "1 1"))
        result = pair.sync(self, options(remove="near"))
        expected = (
            "Warning: channel test: far side box INBOX cannot be opened and near side box "
            "INBOX is not empty."
        )
        self.assertEqual(result.skipped, expected)
        self.assertEqual(pair.near.boxes(), [BOX])

    def test_remove_not_allowed(self) -> None:
        """
        Without Remove a vanished box is an error.
        """
        pair = Pair.create(self.mktemp())
        populate(pair.near, [])
        pair.reopen()
        pair.write_state(state(1, 1))
        failure = pair.fail(self, options(), MailboxError)
        self.assertEqual(str(failure.value), "channel test: far side box INBOX cannot be opened.")


class BehaviourTests(SynchronousTestCase):
    """
    Rules checked outside the scenario table.
    """

    def test_unsupported_flags(self) -> None:
        """
        Flags the target box cannot keep are not propagated, with mbsync's
        notice once per flag.
        """
        variant = Variant(near_flags=Flags(63) & ~Flags.FORWARDED)
        pair = prepared(self, [(1, "PS", "a"), (2, "P", "b")], [], variant=variant)
        pair.sync(self, options())
        self.assertEqual(contents(pair.near), [(1, "S", "a"), (2, "", "b")])
        self.assertEqual(pair.read_state(), state(2, 2, "1 1 S", "2 2"))
        notice = "Notice: near side store does not support flag(s) 'P'; not propagating."
        self.assertEqual([text for _, text in pair.notices].count(notice), 1)

    def test_expire_unread_unset(self) -> None:
        """
        MaxMessages with unread messages in excess and ExpireUnread unset
        skips the box with mbsync's error (checked with mbsync 1.4.4).
        """
        far = [(1, "", "a"), (2, "", "b"), (3, "", "c"), (4, "", "d")]
        pair = prepared(self, far, [])
        # Its own type: the runner prints it without "Error: ", as mbsync.
        failure = pair.fail(self, options(max_messages=2), UnreadExcess)
        self.assertEqual(
            str(failure.value),
            "INBOX: 2 unread messages in excess of MaxMessages (2).\n"
            "Please set ExpireUnread to decide outcome. Skipping mailbox.",
        )
        self.assertEqual(contents(pair.near), [])

    def test_loads_both_sides_at_once(self) -> None:
        """
        Both boxes load at once and each count is told as its load ends, so
        -V reads like mbsync's with a slow far side (IMAP) and an instant
        near one (Maildir): both "Loading" lines, the near count, the far
        count (checked with mbsync 1.4.4 against Dovecot).
        """
        pair = prepared(self, [(1, "", "a")], [(1, "", "b")])
        gate: Deferred[None] = Deferred()
        real_open = pair.far.open_box

        def open_box(name: str, create: bool = False, read_only: bool = False) -> Any:
            def slow(box: Any) -> Any:
                real_load = box.load
                box.load = lambda request: gate.addCallback(lambda _: real_load(request))
                return box

            return real_open(name, create=create, read_only=read_only).addCallback(slow)

        self.patch(pair.far, "open_box", open_box)
        started = pair.start(options())
        loading = [text for _, text in pair.notices if "side box..." in text or "recent" in text]
        self.assertEqual(
            loading,
            [
                "Loading far side box...",
                "Loading near side box...",
                "near side: 1 messages, 0 recent",
            ],
        )
        gate.callback(None)
        self.successResultOf(started)
        self.assertIn("far side: 1 messages, 0 recent", [text for _, text in pair.notices])
        self.assertEqual(sorted(m[2] for m in contents(pair.near)), ["a", "b"])

    def test_copy_arrival_date(self) -> None:
        """
        CopyArrivalDate gives copies the source's arrival date; otherwise
        they arrive now.
        """
        for copy, expected in ((True, 1000), (False, 1_600_000_000)):
            pair = Pair.create(self.mktemp())
            pair.far.seed(BOX, message_text("a"), arrival_date=datetime.fromtimestamp(1000, UTC))
            populate(pair.near, [])
            pair.reopen()
            pair.sync(self, options(copy_arrival_date=copy))
            date = pair.near.messages(BOX)[0].arrival_date
            self.assertEqual(date.timestamp(), expected)

    def test_x_tuid(self) -> None:
        """
        Copies carry one X-TUID line; the source keeps none.
        """
        pair = prepared(self, [(1, "", "a")], [])
        pair.sync(self, options())
        self.assertEqual(parse_tracking_headers(pair.far.messages(BOX)[0].data).tuid, None)
        tuid = parse_tracking_headers(pair.near.messages(BOX)[0].data).tuid
        assert tuid is not None
        self.assertEqual(len(tuid), 12)

    def test_progress(self) -> None:
        """
        The counters show mbsync's F:/N: work per target side.
        """
        pair = prepared(self, [(1, "S", "a"), (2, "", "b")], [(1, "", "a")])
        pair.write_state(state(1, 1, "1 1"))
        seen: list[str] = []
        progress = PairProgress(lambda p: seen.append(p.counters(Side.NEAR).text()))
        self.successResultOf(pair.start(options(), progress=progress))
        self.assertEqual(progress.counters(Side.NEAR).text(), "+1/1 *1/1 #0/0")
        self.assertEqual(progress.counters(Side.FAR).text(), "+0/0 *0/0 #0/0")
        self.assertIn("+0/1 *1/1 #0/0", seen)

    def test_progress_of_many_copies(self) -> None:
        """
        Copies done are counted once each: the count only grows and ends at
        the number of copies; copies that finish together (here all: the
        memory store answers at once) are counted in one step, not one
        redraw each.
        """
        far = [(uid, "", f"m{uid}") for uid in range(1, 41)]
        pair = prepared(self, far, [])
        seen: list[tuple[int, int]] = []
        progress = PairProgress(
            lambda p: seen.append((p.counters(Side.NEAR).new_done, p.counters(Side.NEAR).new_total))
        )
        self.successResultOf(pair.start(options(), progress=progress))
        self.assertEqual(seen[-1], (40, 40))
        done = [each for each, _ in seen]
        self.assertEqual(done, sorted(done))
        self.assertLess(len(seen), 10)
        self.assertEqual(len(pair.near.messages(BOX)), 40)

    def test_fetches_ahead(self) -> None:
        """
        Copies are stored in source order while up to L{FETCH_AHEAD} bodies
        more than the copies under way are fetched (so the source store can
        pipeline them while the target stores), never more.
        """
        far = [(uid, "", f"m{uid}") for uid in range(1, 61)]
        pair = prepared(self, far, [])
        fetched_at_store: list[int] = []
        insert = pair.near._insert

        def recording(*args: Any) -> int:
            fetched_at_store.append(sum("fetch" in op for op in pair.far.operations))
            return insert(*args)

        self.patch(pair.near, "_insert", recording)
        pair.sync(self, options())
        self.assertEqual(contents(pair.near), [(uid, "", f"m{uid}") for uid in range(1, 61)])
        ahead = [fetched - stored for stored, fetched in enumerate(fetched_at_store)]
        self.assertEqual(max(ahead), FETCH_AHEAD + COPIES_IN_FLIGHT)
        self.assertEqual(fetched_at_store[-1], 60)

    def test_fetch_ahead_abort(self) -> None:
        """
        When the source store fails while bodies are fetched ahead, the
        pair fails with that error, and the fetches nobody will use leave
        no unhandled errors behind.
        """
        far = [(uid, "", f"m{uid}") for uid in range(1, 11)]
        rehearsal = prepared(self, far, [])
        rehearsal.sync(self, options())
        number = rehearsal.far.operations.index("INBOX: fetch 3") + 1
        pair = prepared(self, far, [])
        pair.far.fail_operation(number)
        pair.fail(self, options(), StoreUnavailable)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(len(contents(pair.near)), 2)

    def test_dry_run(self) -> None:
        """
        A dry run writes nothing to the stores or the state and lists what
        would be done.
        """
        pair = prepared(self, [(1, "S", "a"), (2, "", "b")], [(1, "T", "a")])
        before = state(1, 1, "1 1")
        pair.write_state(before)
        result = pair.sync(self, options(expunge="both", dry_run=True))
        self.assertEqual(contents(pair.far), [(1, "S", "a"), (2, "", "b")])
        self.assertEqual(contents(pair.near), [(1, "T", "a")])
        self.assertEqual(pair.read_state(), before)
        self.assertFalse(os.path.exists(pair.paths.journal))
        self.assertEqual(
            list(result.planned),
            [
                "far side: UID 1: flags +T -",
                "near side: store copy of far side UID 2 with flags -",
                "far side: expunge UIDs 1",
                "near side: expunge UIDs 1",
            ],
        )
        self.assertNotIn("store", " ".join(pair.far.operations + pair.near.operations))

    def test_dry_run_create(self) -> None:
        """
        A dry run plans a box creation without creating it.
        """
        pair = Pair.create(self.mktemp())
        populate(pair.far, [(1, "", "a")])
        pair.reopen()
        result = pair.sync(self, options(create="near", dry_run=True))
        self.assertEqual(pair.near.boxes(), [])
        self.assertEqual(
            list(result.planned),
            ["near side: create box INBOX", "near side: store copy of far side UID 1 with flags -"],
        )

    def test_journal_recovery(self) -> None:
        """
        After a crash the journaled TUID finds the copy already made (no
        duplicate); a copy that never arrived is made again, with mbsync's
        journal line C{&}.
        """
        pair = Pair.create(self.mktemp(), Variant(near_uidplus=False))
        populate(pair.far, [(1, "", "a"), (2, "", "b"), (3, "", "c")])
        populate(pair.near, [(1, "", "a")])
        copy = message_text("b").replace(b"\n\n", b"\nX-TUID: BBBBBBBBBBBB\n\n", 1)
        pair.near.seed(BOX, copy)
        pair.reopen()
        pair.write_state(state(1, 1, "1 1"))
        with open(pair.paths.journal, "w") as journal:
            journal.write("4\n+ 2 0\n+ 3 0\nF 1 2\n# 2 0 BBBBBBBBBBBB\n# 3 0 CCCCCCCCCCCC\n")
        open(pair.paths.new, "w").close()
        pair.sync(self, options())
        self.assertEqual(contents(pair.near), [(1, "", "a"), (2, "", "b"), (3, "", "c")])
        self.assertEqual(pair.read_state(), state(3, 3, "1 1", "2 2", "3 3"))


class ConvergenceTests(SynchronousTestCase):
    """
    Random changes on both sides, interleaved with syncs, converge.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)

    @settings(max_examples=100, deadline=None)
    @given(
        st.sampled_from(VARIANTS),
        st.lists(
            st.one_of(
                st.tuples(
                    st.just("add"),
                    st.sampled_from(list(Side)),
                    st.sampled_from(["", "S", "F", "T", "RS"]),
                ),
                st.tuples(
                    st.just("flag"),
                    st.sampled_from(list(Side)),
                    st.integers(0, 20),
                    st.sampled_from(["", "S", "FS", "D", "P"]),
                ),
                st.tuples(st.just("delete"), st.sampled_from(list(Side)), st.integers(0, 20)),
                st.tuples(st.just("expunge"), st.sampled_from(list(Side))),
                st.tuples(st.just("sync"), st.sampled_from(["", "both", "far"])),
            ),
            max_size=25,
        ),
    )
    def test_converges(self, variant: Variant, steps: list[tuple[object, ...]]) -> None:
        """
        After any sequence of adds, flag changes (other than undeleting),
        deletions, external
        expunges and syncs, two final syncs with C{Expunge Both} leave both
        sides with the same messages (modulo line endings and X-TUID) and
        the same flags, each message once.
        """
        pair = Pair.create(tempfile.mkdtemp(dir=self.directory), variant)
        for store in (pair.far, pair.near):
            store.create_box(BOX)
        pair.reopen()
        counter = 0
        for step in steps:
            kind = step[0]
            if kind == "sync":
                pair.sync(self, options(expunge=str(step[1])))
                pair.reopen()
                continue
            side = step[1]
            store = pair.far if side is Side.FAR else pair.near
            messages = store.messages(BOX)
            if kind == "add":
                counter += 1
                store.seed(
                    BOX,
                    message_text(f"m{counter}", store.line_ending),
                    Flags.from_letters(str(step[2])),
                )
            elif kind == "expunge":
                for message in messages:
                    if message.flags & Flags.DELETED:
                        store.remove_message(BOX, message.uid)
            elif messages:
                message = messages[int(step[2]) % len(messages)]  # type: ignore[call-overload]
                if kind == "flag":
                    # Undeleting is left out: once the partner was expunged
                    # the record is orphaned and mbsync never copies the
                    # message back (row "undeleting after the partner's
                    # expunge", checked with mbsync).
                    flags = Flags.from_letters(str(step[3])) | (message.flags & Flags.DELETED)
                    store.set_message_flags(BOX, message.uid, flags)
                else:
                    store.set_message_flags(BOX, message.uid, message.flags | Flags.DELETED)
        for _ in range(2):
            pair.sync(self, options(expunge="both"))
            pair.reopen()
        far = sorted((normalize(m.data), m.flags) for m in pair.far.messages(BOX))
        near = sorted((normalize(m.data), m.flags) for m in pair.near.messages(BOX))
        self.assertEqual(far, near)
        self.assertEqual(len({body for body, _ in far}), len(far))
