# -*- test-case-name: tests.sync.test_reconcile -*-
"""
Tests for L{msync.sync.reconcile}, L{msync.sync.options} and
L{msync.sync.loading}: options from a configured channel, the loads mbsync
1.4 would make, and the planner table: state, listings and options in,
journal lines, store actions, notices and the committed state out, fed to
the planner's step functions directly (no engine, no store; see
L{tests.sync.plantable}).

Rows marked C{mbsync=MBSYNC} were checked to agree with mbsync 1.4.4 on
Maildir trees made from the row, and are checked again by
L{tests.integration.test_reconcile_mbsync}; C{same_order=False} marks rows where
mbsync journals the same lines in another order (it assigns each TUID
right before its copy).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import ALL_FLAGS, Flags, MessageInfo, Side
from msync.sync import reconcile
from msync.sync.notices import (
    ConflictingChanges,
    StrayTuid,
    UIDValidityRecovered,
    UnsupportedFlags,
)
from msync.sync.pairwork import PairWork, forget_undeleted, message
from msync.sync.statetext import parse_state
from tests.sync.plantable import PlanRow, check_row
from tests.sync.scenarios import add_row_tests, options, state

#: Checked to agree with mbsync 1.4.4.
MBSYNC = True

ROWS = [
    PlanRow(
        "first sync copies both ways",
        far=[(1, "S", "a"), (2, "", "b")],
        near=[(1, "F", "c")],
        journal=[
            "| 1 1",
            "+ 0 1",
            "+ 1 0",
            "+ 2 0",
            "F 0 3",
            "F 1 2",
            "# 0 1 TUID00000001",
            "# 1 0 TUID00000002",
            "# 2 0 TUID00000003",
            "* 0 1 2",
            "< 0 1 3",
            "* 1 0 16",
            "> 1 0 2",
            "> 2 0 3",
            "N 0 3",
            "N 1 3",
        ],
        actions=[
            "far side: store copy of near side UID 1 with flags F",
            "near side: store copy of far side UID 1 with flags S",
            "near side: store copy of far side UID 2 with flags -",
        ],
        after=state(3, 3, "3 1 F", "1 2 S", "2 3"),
        mbsync=MBSYNC,
        same_order=False,
    ),
    PlanRow(
        "flags propagate both ways",
        far=[(1, "S", "a")],
        near=[(1, "F", "a")],
        before=state(1, 1, "1 1"),
        options=options(),
        journal=["* 1 1 2", "* 1 1 18"],
        actions=["far side: UID 1: flags +F -", "near side: UID 1: flags +S -"],
        after=state(1, 1, "1 1 FS"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "flag removal propagates",
        far=[(1, "", "a")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        journal=["* 1 1 0"],
        actions=["near side: UID 1: flags + -S"],
        after=state(1, 1, "1 1"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "same change on both sides is no conflict",
        far=[(1, "RS", "a")],
        near=[(1, "FS", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        journal=["* 1 1 18", "* 1 1 26"],
        actions=["far side: UID 1: flags +F -", "near side: UID 1: flags +R -"],
        after=state(1, 1, "1 1 FRS"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "far expunge propagates as T",
        far=[],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        journal=["< 1 1 0"],
        actions=["near side: UID 1: flags +T -"],
        after=state(1, 1, "0 1 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "near expunge propagates as T",
        far=[(1, "S", "a"), (2, "", "b")],
        near=[(2, "", "b")],
        before=state(2, 2, "1 1 S", "2 2"),
        options=options(),
        journal=["> 1 1 0"],
        actions=["far side: UID 1: flags +T -"],
        after=state(2, 2, "1 0 S", "2 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "far expunge propagated and expunged",
        far=[],
        near=[(1, "S", "a"), (2, "", "b")],
        before=state(0, 2, "0 1 S", "0 2"),
        options=options(expunge="both"),
        journal=[],
        actions=[],
        after=state(0, 2, "0 1 S", "0 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "deletion not propagated without Delete",
        far=[],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options("pull-new pull-flags push"),
        journal=[],
        actions=[],
        after=state(1, 1, "1 1 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "T travels as a flag",
        far=[(1, "S", "a")],
        near=[(1, "ST", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        journal=["* 1 1 48"],
        actions=["far side: UID 1: flags +T -"],
        after=state(1, 1, "1 1 ST"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "T with Expunge Both removes both",
        far=[(1, "S", "a"), (2, "S", "b")],
        near=[(1, "ST", "a"), (2, "S", "b")],
        before=state(2, 2, "1 1 S", "2 2 S"),
        options=options(expunge="both"),
        journal=["* 1 1 48", "- 1 1"],
        actions=[
            "far side: UID 1: flags +T -",
            "far side: expunge UIDs 1",
            "near side: expunge UIDs 1",
        ],
        after=state(2, 2, "2 2 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "Expunge Far only orphans the near copy",
        far=[(1, "S", "a")],
        near=[(1, "ST", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="far"),
        journal=["* 1 1 48", "< 1 1 0"],
        actions=["far side: UID 1: flags +T -", "far side: expunge UIDs 1"],
        after=state(1, 1, "0 1 ST"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "Expunge Near only orphans the far copy",
        far=[(1, "ST", "a")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="near"),
        journal=["* 1 1 48", "> 1 1 0"],
        actions=["near side: UID 1: flags +T -", "near side: expunge UIDs 1"],
        after=state(1, 1, "1 0 ST"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "PullNew only",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "S", "a"), (2, "", "c")],
        before=state(1, 1, "1 1"),
        options=options("pull-new"),
        journal=["+ 2 0", "F 1 3", "# 2 0 TUID00000001", "* 2 0 16", "> 2 0 3", "N 0 2"],
        actions=["near side: store copy of far side UID 2 with flags S"],
        after=state(2, 1, "1 1", "2 3 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "Push only",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "S", "a"), (2, "", "c")],
        before=state(1, 1, "1 1"),
        options=options("push"),
        journal=["+ 0 2", "* 1 1 16", "F 0 3", "# 0 2 TUID00000001", "< 0 2 3", "N 1 2"],
        actions=[
            "far side: UID 1: flags +S -",
            "far side: store copy of near side UID 2 with flags -",
        ],
        after=state(1, 2, "1 1 S", "3 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "Sync None changes nothing",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1"),
        options=options("none"),
        journal=[],
        actions=[],
        after=state(1, 1, "1 1"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "new deleted message is not propagated into an expunged box",
        far=[(1, "T", "a"), (2, "", "b")],
        near=[],
        options=options(expunge="near"),
        journal=["| 1 1", "+ 2 0", "F 1 1", "# 2 0 TUID00000001", "> 2 0 1", "N 0 2", "N 1 1"],
        actions=["near side: store copy of far side UID 2 with flags -"],
        after=state(2, 1, "2 1"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "new deleted message is propagated into a kept box",
        far=[(1, "T", "a")],
        near=[],
        options=options(),
        journal=[
            "| 1 1",
            "+ 1 0",
            "F 1 1",
            "# 1 0 TUID00000001",
            "* 1 0 32",
            "> 1 0 1",
            "N 0 1",
            "N 1 1",
        ],
        actions=["near side: store copy of far side UID 1 with flags T"],
        after=state(1, 1, "1 1 T"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "new deleted message expunged on its side",
        far=[(1, "T", "a"), (2, "", "b")],
        near=[],
        options=options(expunge="both"),
        journal=["| 1 1", "+ 2 0", "F 1 1", "# 2 0 TUID00000001", "> 2 0 1", "N 0 2", "N 1 1"],
        actions=[
            "near side: store copy of far side UID 2 with flags -",
            "far side: expunge UIDs 1",
        ],
        after=state(2, 1, "2 1"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "messages at or below the max UID without a record are ignored",
        far=[(1, "", "a"), (2, "", "b")],
        near=[(1, "", "c")],
        before=state(2, 1),
        options=options(),
        journal=[],
        actions=[],
        after=state(2, 1),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "conflicting flag change and expunge",
        far=[],
        near=[(1, "FS", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(),
        journal=["< 1 1 0"],
        actions=["near side: UID 1: flags +T -"],
        notices=[ConflictingChanges(far_uid=1, near_uid=1)],
        after=state(1, 1, "0 1 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "both gone kills the record",
        far=[],
        near=[],
        before=state(1, 1, "1 1 S"),
        options=options(),
        journal=["- 1 1"],
        actions=[],
        after=state(1, 1),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "pending copy retried after lost record",
        far=[(1, "", "a"), (3, "", "c")],
        near=[(1, "", "a")],
        before=state(1, 1, "1 1"),
        options=options(),
        journal=["+ 3 0", "F 1 2", "# 3 0 TUID00000001", "> 3 0 2", "N 0 3", "N 1 2"],
        actions=["near side: store copy of far side UID 3 with flags -"],
        after=state(3, 2, "1 1", "3 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "Trash far moves deleted messages there",
        far=[(1, "ST", "a"), (2, "T", "b"), (3, "", "c")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="both", far_trash="Trash"),
        journal=[
            "+ 3 0",
            "* 1 1 48",
            "T 0 1",
            "T 0 2",
            "F 1 2",
            "# 3 0 TUID00000001",
            "> 3 0 2",
            "N 0 3",
            "N 1 2",
            "- 1 1",
        ],
        actions=[
            "near side: UID 1: flags +T -",
            "far side: UID 1: trash into far side Trash",
            "far side: UID 2: trash into far side Trash",
            "near side: store copy of far side UID 3 with flags -",
            "far side: expunge UIDs 1,2",
            "near side: expunge UIDs 1",
        ],
        after=state(3, 2, "3 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "TrashNewOnly trashes only unpropagated messages",
        far=[(1, "ST", "a"), (2, "T", "b"), (3, "", "c")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="both", far_trash="Trash", far_trash_new_only=True),
        journal=[
            "+ 3 0",
            "* 1 1 48",
            "T 0 2",
            "F 1 2",
            "# 3 0 TUID00000001",
            "> 3 0 2",
            "N 0 3",
            "N 1 2",
            "- 1 1",
        ],
        actions=[
            "near side: UID 1: flags +T -",
            "far side: UID 2: trash into far side Trash",
            "near side: store copy of far side UID 3 with flags -",
            "far side: expunge UIDs 1,2",
            "near side: expunge UIDs 1",
        ],
        after=state(3, 2, "3 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "TrashRemoteNew copies unpropagated deletions into the other Trash",
        far=[(1, "ST", "a"), (2, "T", "b"), (3, "", "c")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="both", near_trash="Trash", near_trash_remote_new=True),
        journal=[
            "+ 3 0",
            "* 1 1 48",
            "T 0 2",
            "T 1 1",
            "F 1 2",
            "# 3 0 TUID00000001",
            "> 3 0 2",
            "N 0 3",
            "N 1 2",
            "- 1 1",
        ],
        actions=[
            "near side: UID 1: flags +T -",
            "far side: UID 2: trash into near side Trash",
            "near side: UID 1: trash into near side Trash",
            "near side: store copy of far side UID 3 with flags -",
            "far side: expunge UIDs 1,2",
            "near side: expunge UIDs 1",
        ],
        after=state(3, 2, "3 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "MaxMessages expires old read messages",
        far=[(1, "S", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near=[],
        options=options(max_messages=2, expire_unread=True),
        journal=[
            "| 1 1",
            "+ 1 0",
            "+ 2 0",
            "+ 3 0",
            "+ 4 0",
            "= 1 0",
            "= 2 0",
            "F 1 1",
            "# 3 0 TUID00000001",
            "# 4 0 TUID00000002",
            "* 3 0 16",
            "> 3 0 1",
            "* 4 0 16",
            "> 4 0 2",
            "N 0 4",
            "N 1 2",
            "! 2",
        ],
        actions=[
            "near side: store copy of far side UID 3 with flags S",
            "near side: store copy of far side UID 4 with flags S",
        ],
        after=state(4, 2, "3 1 S", "4 2 S", expired=2),
        mbsync=MBSYNC,
        same_order=False,
    ),
    PlanRow(
        "MaxMessages keeps flagged messages",
        far=[(1, "FS", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near=[(1, "FS", "a"), (2, "S", "b")],
        before=state(2, 2, "1 1 FS", "2 2 S"),
        options=options(expunge="near", max_messages=2, expire_unread=True),
        journal=[
            "+ 3 0",
            "+ 4 0",
            "~ 2 2 1",
            "~ 2 2 3",
            "F 1 3",
            "# 3 0 TUID00000001",
            "# 4 0 TUID00000002",
            "* 3 0 16",
            "> 3 0 3",
            "* 4 0 16",
            "> 4 0 4",
            "N 0 4",
            "N 1 4",
            "- 2 2",
            "! 2",
        ],
        actions=[
            "near side: UID 2: flags +T -",
            "near side: store copy of far side UID 3 with flags S",
            "near side: store copy of far side UID 4 with flags S",
            "near side: expunge UIDs 2",
        ],
        after=state(4, 4, "1 1 FS", "3 3 S", "4 4 S", expired=2),
        mbsync=MBSYNC,
        same_order=False,
    ),
    PlanRow(
        "MaxMessages with ExpireUnread no keeps unread",
        far=[(1, "", "a"), (2, "S", "b"), (3, "S", "c"), (4, "S", "d")],
        near=[],
        options=options(expunge="near", max_messages=2, expire_unread=False),
        journal=[
            "| 1 1",
            "+ 1 0",
            "+ 2 0",
            "+ 3 0",
            "+ 4 0",
            "= 2 0",
            "F 1 1",
            "# 1 0 TUID00000001",
            "# 3 0 TUID00000002",
            "# 4 0 TUID00000003",
            "> 1 0 1",
            "* 3 0 16",
            "> 3 0 2",
            "* 4 0 16",
            "> 4 0 3",
            "N 0 4",
            "N 1 3",
            "! 2",
        ],
        actions=[
            "near side: store copy of far side UID 1 with flags -",
            "near side: store copy of far side UID 3 with flags S",
            "near side: store copy of far side UID 4 with flags S",
        ],
        after=state(4, 3, "1 1", "3 2 S", "4 3 S", expired=2),
        mbsync=MBSYNC,
        same_order=False,
    ),
    PlanRow(
        "MaxMessages expiry is not propagated back",
        far=[(1, "S", "a"), (2, "S", "b"), (3, "S", "c")],
        near=[(1, "ST", "a"), (2, "S", "b"), (3, "S", "c")],
        before=state(3, 3, "1 1 ~S", "2 2 S", "3 3 S"),
        options=options(expunge="near", max_messages=2, expire_unread=True),
        journal=["- 1 1", "! 1"],
        actions=["near side: expunge UIDs 1"],
        after=state(3, 3, "2 2 S", "3 3 S", expired=1),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "MaxSize makes placeholders",
        far=[(1, "", "a"), (2, "", "big"), (3, "F", "bigflagged")],
        near=[],
        options=options(near_max_size=1024),
        big=("big", "bigflagged"),
        journal=[
            "| 1 1",
            "+ 1 0",
            "+ 2 0",
            "_ 2 0",
            "+ 3 0",
            "F 1 1",
            "# 1 0 TUID00000001",
            "# 2 0 TUID00000002",
            "# 3 0 TUID00000003",
            "> 1 0 1",
            "> 2 0 2",
            "* 3 0 2",
            "> 3 0 3",
            "N 0 3",
            "N 1 3",
        ],
        actions=[
            "near side: store copy of far side UID 1 with flags -",
            "near side: store placeholder of far side UID 2 with flags -",
            "near side: store copy of far side UID 3 with flags F",
        ],
        after=state(3, 3, "1 1", "2 2 >", "3 3 F"),
        mbsync=MBSYNC,
        same_order=False,
    ),
    PlanRow(
        "flagging a placeholder upgrades it with ReNew",
        far=[(1, "S", "big")],
        near=[(1, "F", "[placeholder] big")],
        before=state(1, 1, "1 1 >"),
        options=options(near_max_size=1024),
        big=("big",),
        journal=["^ 1 1 16 16", "* 0 1 32", "F 1 2", "# 1 0 TUID00000001", "> 1 0 2", "N 1 2"],
        actions=[
            "near side: UID 1: flags +T -",
            "near side: store copy of far side UID 1 with flags S",
        ],
        after=state(1, 2, "1 2 S", "0 1 T"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "undeleting after the partner's expunge is not propagated",
        near=[(1, "", "a")],
        before=state(1, 1, "0 1 T"),
        options=options(expunge="both"),
        journal=[],
        actions=[],
        after=state(1, 1, "0 1 T"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "near UIDVALIDITY change recovered by Message-IDs",
        far=[(1, "S", "a"), (2, "", "b")],
        near=[(1, "S", "a"), (2, "", "b")],
        before=state(2, 2, "1 1 S", "2 2", uv=(1, 5)),
        journal=["| 1 1"],
        actions=[],
        notices=[UIDValidityRecovered(channel="test", side=Side.NEAR, box="INBOX")],
        after=state(2, 2, "1 1 S", "2 2"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "far UIDVALIDITY genuinely changed",
        far=[(1, "S", "x"), (2, "", "b")],
        near=[(1, "S", "a"), (2, "", "b")],
        before=state(2, 2, "1 1 S", "2 2", uv=(7, 1)),
        journal=[],
        actions=[],
        after=state(2, 2, "1 1 S", "2 2", uv=(7, 1)),
        error="channel test, far side box INBOX: UIDVALIDITY genuinely changed (at UID 1).",
        mbsync=MBSYNC,
    ),
    PlanRow(
        "unread in excess of MaxMessages without ExpireUnread",
        far=[(1, "", "a"), (2, "", "b"), (3, "", "c"), (4, "", "d")],
        options=options(max_messages=1),
        journal=["| 1 1", "+ 1 0", "+ 2 0", "+ 3 0", "+ 4 0"],
        actions=[],
        after=state(4, 0, "1 0", "2 0", "3 0", "4 0"),
        error="INBOX: 3 unread messages in excess of MaxMessages (1).\nPlease set ExpireUnread to decide outcome. Skipping mailbox.",
        mbsync=MBSYNC,
    ),
    PlanRow(
        "flags the near box cannot keep are not propagated",
        far=[(1, "FS", "a"), (2, "F", "b")],
        near=[(1, "", "a")],
        before=state(1, 1, "1 1"),
        permanent=(ALL_FLAGS, Flags.from_letters("DRST")),
        journal=["+ 2 0", "* 1 1 16", "F 1 2", "# 2 0 TUID00000001", "> 2 0 2", "N 0 2", "N 1 2"],
        actions=[
            "near side: UID 1: flags +S -",
            "near side: store copy of far side UID 2 with flags -",
        ],
        notices=[UnsupportedFlags(side=Side.NEAR, flags=Flags.FLAGGED)],
        after=state(2, 2, "1 1 S", "2 2"),
        # A Maildir keeps every flag: mbsync cannot be run on this row.
        mbsync=False,
    ),
    PlanRow(
        "interrupted copy found by its TUID",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "", "a"), (2, "S", "b")],
        before=state(1, 1, "1 1"),
        replay=["+ 2 0", "F 1 2", "# 2 0 Xk3pqLz9AbQw"],
        near_tuids={2: "Xk3pqLz9AbQw"},
        journal=["> 2 0 2", "* 2 2 16", "N 0 2"],
        actions=[],
        after=state(2, 2, "1 1", "2 2 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "interrupted push found by its TUID",
        far=[(1, "", "a"), (2, "F", "c")],
        near=[(1, "", "a"), (2, "F", "c")],
        before=state(1, 1, "1 1"),
        replay=["+ 0 2", "F 0 2", "# 0 2 Xk3pqLz9AbQw"],
        far_tuids={2: "Xk3pqLz9AbQw"},
        journal=["< 0 2 2", "* 2 2 2", "N 1 2"],
        actions=[],
        after=state(2, 2, "1 1", "2 2 F"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "interrupted copy not found is copied again",
        far=[(1, "", "a"), (2, "S", "b")],
        near=[(1, "", "a")],
        before=state(1, 1, "1 1"),
        replay=["+ 2 0", "F 1 2", "# 2 0 Xk3pqLz9AbQw"],
        journal=["& 2 0", "F 1 2", "# 2 0 TUID00000001", "* 2 0 16", "> 2 0 2", "N 0 2", "N 1 2"],
        actions=["near side: store copy of far side UID 2 with flags S"],
        after=state(2, 2, "1 1", "2 2 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "replayed flag change is not made twice",
        far=[(1, "S", "a")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1"),
        replay=["* 1 1 16"],
        journal=[],
        actions=[],
        after=state(1, 1, "1 1 S"),
        mbsync=MBSYNC,
    ),
    PlanRow(
        "stray TUID on a paired record is ignored",
        far=[(1, "S", "a")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1 S"),
        replay=["# 1 1 Xk3pqLz9AbQw"],
        journal=[],
        actions=[],
        notices=[StrayTuid(1, 1)],
        after=state(1, 1, "1 1 S"),
        # mbsync 1.4.4 prints the same warning, then aborts on an assertion
        # (sync.c box_loaded: !srec->tuid[0]); msync goes on.
        mbsync=False,
    ),
    PlanRow(
        "PushFlags sends a flag the far copy it does not load carries already",
        # mbsync's IMAP driver loads no far message for Sync PushFlags, so it
        # cannot see that far 1 carries S already (msync lists it anyway,
        # to expunge by UID) and sends it; on Maildir it would see it.
        # Checked by hand against mbsync 1.4.4 on Dovecot: UID STORE 1
        # +FLAGS.SILENT (\Seen), state "1 1 S".
        far=[(1, "S", "a")],
        near=[(1, "S", "a")],
        before=state(1, 1, "1 1"),
        options=options("push-flags"),
        far_imap=True,
        journal=["* 1 1 16"],
        actions=["far side: UID 1: flags +S -"],
        after=state(1, 1, "1 1 S"),
    ),
]


class PlannerTableTests(SynchronousTestCase):
    """
    The planner table: one test method per row (added below).
    """


add_row_tests(
    PlannerTableTests,
    ROWS,
    lambda row: row.name,
    check_row,
    "Planner row {name!r}: the planner decides the row's journal lines, store "
    "actions and notices, and leaves the row's state.",
)


PERMANENT = {Side.FAR: ALL_FLAGS, Side.NEAR: ALL_FLAGS}


class CompactWorkTests(SynchronousTestCase):
    """
    What the planner keeps per message (issue 11): working values only for
    records that need them, links to messages on the records themselves.
    """

    def _work(self, before: str) -> PairWork:
        return PairWork(
            parse_state(before, "state"),
            options(expunge="both"),
            existed=True,
            replayed=False,
            boxes={Side.FAR: "INBOX", Side.NEAR: "INBOX"},
            uid_validity={Side.FAR: 1, Side.NEAR: 1},
        )

    def test_no_op_keeps_no_working_values(self) -> None:
        """
        Reconciling boxes in sync leaves no per-record working values, and
        each record linked to its two messages; a record whose flags change
        keeps its values until they are applied.
        """
        work = self._work(state(3, 3, "1 1 S", "2 2", "3 3 F"))
        reconcile.plan_loads(work)
        listing = [MessageInfo(1, Flags.SEEN), MessageInfo(2, Flags.NONE)]
        far = [*listing, MessageInfo(3, Flags.FLAGGED | Flags.SEEN)]
        near = [*listing, MessageInfo(3, Flags.FLAGGED)]
        step = reconcile.reconcile(work, {Side.FAR: far, Side.NEAR: near}, PERMANENT)
        records = list(work.state.records)
        self.assertEqual([(u.side, u.uid) for u in step.actions], [(Side.NEAR, 3)])
        self.assertEqual(list(work.work), [records[2]])
        for record, (far_info, near_info) in zip(records, zip(far, near, strict=True), strict=True):
            self.assertEqual(record.linked(Side.FAR), far_info.uid)
            self.assertEqual(record.linked(Side.NEAR), near_info.uid)
            self.assertEqual(message(work, Side.FAR, record), far_info)
            self.assertEqual(message(work, Side.NEAR, record), near_info)

    def test_new_work_unlinks(self) -> None:
        """
        A new L{PairWork} on a state synced before starts with no record
        linked to a message.
        """
        work = self._work(state(1, 1, "1 1 S"))
        reconcile.plan_loads(work)
        info = MessageInfo(1, Flags.SEEN)
        reconcile.reconcile(work, {Side.FAR: [info], Side.NEAR: [info]}, PERMANENT)
        record = work.state.records[0]
        self.assertEqual(record.linked(Side.FAR), 1)
        again = PairWork(
            work.state,
            work.options,
            existed=True,
            replayed=False,
            boxes=work.boxes,
            uid_validity=work.uid_validity,
        )
        self.assertEqual(record.linked(Side.FAR), 0)
        self.assertEqual(record.linked(Side.NEAR), 0)
        self.assertIsNone(message(again, Side.FAR, record))
        self.assertEqual(again.work, {})

    def test_forget_undeleted(self) -> None:
        """
        L{forget_undeleted} keeps only the loaded messages flagged deleted
        (as listed or as changed), with their links; the others are
        unlinked and dropped from C{linked}, and the expunge asks for the
        same UIDs as before.
        """
        work = self._work(state(3, 3, "1 1 S", "2 2", "3 3 T"))
        reconcile.plan_loads(work)
        far = [
            MessageInfo(1, Flags.SEEN),
            MessageInfo(2, Flags.DELETED),
            MessageInfo(3, Flags.NONE),
        ]
        near = [MessageInfo(1, Flags.SEEN), MessageInfo(2, Flags.NONE), MessageInfo(3, Flags.NONE)]
        step = reconcile.reconcile(work, {Side.FAR: far, Side.NEAR: near}, PERMANENT)
        reconcile.flags_applied(work, step.actions)
        before = {side: reconcile.expunge_uids(work, side) for side in Side}
        self.assertEqual(before, {Side.FAR: [2], Side.NEAR: [2]})
        forget_undeleted(work)
        records = list(work.state.records)
        self.assertEqual([info.uid for info in work.messages[Side.FAR]], [2])
        self.assertEqual([info.uid for info in work.messages[Side.NEAR]], [2])
        self.assertEqual(work.linked[Side.FAR], [records[1]])
        self.assertEqual(work.linked[Side.NEAR], [records[1]])
        self.assertIsNone(message(work, Side.FAR, records[0]))
        self.assertIsNone(message(work, Side.NEAR, records[0]))
        self.assertEqual(message(work, Side.FAR, records[1]), far[1])
        self.assertEqual(message(work, Side.NEAR, records[1]), near[1])
        self.assertIsNone(message(work, Side.FAR, records[2]))
        self.assertEqual(records[2].linked(Side.FAR), 0)
        self.assertEqual({side: reconcile.expunge_uids(work, side) for side in Side}, before)
