# -*- test-case-name: tests.sync.test_reconcile15 -*-
"""
The planner table for isync 1.5's sync semantics (options with
C{isync15=True}): C{ExpungeSolo}, C{Sync Old} (and 1.5's C{Full},
which includes it) with MaxMessages and MaxSize, C{ExpireSide Far}, MaxMessages with
MaxSize placeholders and their upgrade. Same driver as
L{tests.sync.test_reconcile} (L{tests.sync.plantable}): state, listings
and options in, journal lines (msync's, 1.4's operations), store actions,
notices and the committed state out.

Rows marked C{mbsync=MBSYNC15} were checked to agree with the mbsync 1.5.0
oracle on Maildir trees made from the row (same committed state; the same
messages and output as msync following 1.5), and are checked again by
L{tests.integration.test_reconcile_mbsync15}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import SyncOp
from msync.model import Side
from msync.sync import reconcile
from msync.sync.pairwork import PairWork
from msync.sync.statetext import parse_state
from tests.sync.plantable import PlanRow, check_row
from tests.sync.scenarios import add_row_tests, options, state

#: Checked to agree with mbsync 1.5.0.
MBSYNC15 = True

_HEADER = "FarUidValidity 1\nNearUidValidity 1\n"

# Far messages b, c and e are big (over the near MaxSize of 1000).
_FAR = [(1, "S", "a"), (2, "S", "b"), (3, "FS", "c"), (4, "S", "d"), (5, "", "e"), (6, "S", "f")]
_PLACEHELD = state(6, 4, "3 1 >S", "4 2 S", "5 3 >", "6 4 S", expired=2)

ROWS15 = [
    PlanRow(
        "ExpungeSolo far expunges isolated and solo deleted messages, not paired ones",
        # far 3: its record has no near message (solo); far 4: no record
        # (isolated, at or below MaxPulledUid); far 2 and 5 are paired.
        far=[(1, "S", "a"), (2, "ST", "b"), (3, "T", "c"), (4, "T", "d"), (5, "T", "e")],
        near=[(1, "S", "a"), (2, "S", "b"), (5, "T", "e")],
        before=state(5, 5, "1 1 S", "2 2 S", "3 0 T", "5 5 T"),
        options=options("pull", far_expunge_solo=True, isync15=True),
        journal=["* 2 2 48"],
        actions=["near side: UID 2: flags +T -", "far side: expunge UIDs 3,4"],
        after=state(5, 5, "1 1 S", "2 2 ST", "5 5 T"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "ExpungeSolo with Sync Gone mirrors an expunge",
        # near 2 was expunged: the deletion reaches far 2, whose partner is
        # gone (orphaned), so it is expunged too.
        far=[(1, "S", "a"), (2, "S", "b"), (3, "S", "c")],
        near=[(1, "S", "a"), (3, "S", "c")],
        before=state(3, 3, "1 1 S", "2 2 S", "3 3 S"),
        options=options(far_expunge_solo=True, near_expunge_solo=True, isync15=True),
        journal=[],
        actions=["far side: UID 2: flags +T -", "far side: expunge UIDs 2"],
        after=state(3, 3, "1 1 S", "2 2 S", "3 3 S"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "ExpungeSolo near expunges what Expunge far orphans",
        # near 3 is deleted but its far partner stays: not solo.
        far=[(1, "S", "a"), (2, "ST", "b"), (3, "S", "c")],
        near=[(1, "S", "a"), (2, "ST", "b"), (3, "ST", "c")],
        before=state(3, 3, "1 1 S", "2 2 ST", "3 3 S"),
        options=options("pull-new pull-flags", expunge="far", near_expunge_solo=True, isync15=True),
        journal=[],
        actions=["far side: expunge UIDs 2", "near side: expunge UIDs 2"],
        after=state(3, 3, "1 1 S", "2 2 ST", "3 3 S"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "ExpungeSolo both: new deleted messages are copied, old isolated ones expunged",
        far=[(1, "S", "a"), (2, "T", "b"), (3, "T", "c")],
        near=[(1, "S", "a"), (4, "T", "d"), (5, "", "e")],
        before=state(2, 4, "1 1 S"),
        options=options(far_expunge_solo=True, near_expunge_solo=True, isync15=True),
        journal=[
            "+ 0 5",
            "+ 3 0",
            "F 0 4",
            "F 1 6",
            "# 0 5 TUID00000001",
            "# 3 0 TUID00000002",
            "< 0 5 4",
            "* 3 0 32",
            "> 3 0 6",
        ],
        actions=[
            "far side: store copy of near side UID 5 with flags -",
            "near side: store copy of far side UID 3 with flags T",
            "far side: expunge UIDs 2",
            "near side: expunge UIDs 4",
        ],
        after=state(4, 6, "1 1 S", "4 5", "3 6 T"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "ExpungeSolo far with a far Trash trashes only what it expunges",
        far=[(1, "ST", "a"), (2, "ST", "b")],
        near=[(1, "S", "a")],
        before=state(2, 1, "1 1 S", "2 0 S"),
        options=options("pull", far_expunge_solo=True, far_trash="Trash", isync15=True),
        journal=["* 1 1 48", "T 0 2"],
        actions=[
            "near side: UID 1: flags +T -",
            "far side: UID 2: trash into far side Trash",
            "far side: expunge UIDs 2",
        ],
        after=state(2, 1, "1 1 ST"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "Sync Old propagates unpaired messages at or below the max UIDs",
        # far 3 and 4, near 3: at or below the max UIDs without a record
        # (failed, skipped or pruned earlier); far 5 is not old (Sync Old
        # alone copies no new message) and keeps MaxPulledUid.
        far=[(1, "S", "a"), (2, "S", "b"), (3, "", "c"), (4, "FS", "d"), (5, "S", "e")],
        near=[(1, "S", "a"), (2, "S", "b"), (3, "S", "f"), (6, "", "g")],
        before=state(4, 3, "1 1 S", "2 2 S"),
        options=options("pull-old push-old", isync15=True),
        journal=[
            "+ 0 3",
            "+ 3 0",
            "+ 4 0",
            "F 0 6",
            "F 1 7",
            "# 0 3 TUID00000001",
            "# 3 0 TUID00000002",
            "# 4 0 TUID00000003",
            "* 0 3 16",
            "< 0 3 6",
            "> 3 0 7",
            "* 4 0 18",
            "> 4 0 8",
        ],
        actions=[
            "far side: store copy of near side UID 3 with flags S",
            "near side: store copy of far side UID 3 with flags -",
            "near side: store copy of far side UID 4 with flags FS",
        ],
        after=state(4, 3, "1 1 S", "2 2 S", "6 3 S", "3 7", "4 8 FS"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "Sync Full with MaxMessages brings back only important expired messages",
        # 1.5's Full includes Old. Far 1-4 lie below MaxExpiredFarUid:
        # only the unread 3 and the flagged 4 come back; 7 is new.
        far=[
            (1, "S", "a"),
            (2, "S", "b"),
            (3, "", "c"),
            (4, "FS", "d"),
            (5, "S", "e"),
            (6, "S", "h"),
            (7, "", "i"),
        ],
        near=[(5, "S", "e"), (6, "S", "h")],
        before=state(6, 6, "5 5 S", "6 6 S", expired=4),
        options=options("pull pull-old push push-old", max_messages=2, isync15=True),
        journal=[
            "+ 3 0",
            "+ 4 0",
            "+ 7 0",
            "~ 5 5 1",
            "~ 5 5 3",
            "F 1 7",
            "# 3 0 TUID00000001",
            "# 4 0 TUID00000002",
            "# 7 0 TUID00000003",
            "> 3 0 7",
            "* 4 0 18",
            "> 4 0 8",
            "> 7 0 9",
        ],
        actions=[
            "near side: UID 5: flags +T -",
            "near side: store copy of far side UID 3 with flags -",
            "near side: store copy of far side UID 4 with flags FS",
            "near side: store copy of far side UID 7 with flags -",
        ],
        after=state(7, 9, "5 5 ~S", "6 6 S", "3 7", "4 8 FS", "7 9", expired=5),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "Sync Old with MaxSize makes placeholders of big old messages",
        far=[(1, "S", "a"), (2, "S", "big"), (3, "S", "c")],
        near=[(1, "S", "a")],
        before=state(3, 1, "1 1 S"),
        big=["big"],
        options=options("pull-old", near_max_size=1000, isync15=True),
        journal=[
            "+ 2 0",
            "_ 2 0",
            "+ 3 0",
            "F 1 2",
            "# 2 0 TUID00000001",
            "# 3 0 TUID00000002",
            "* 2 0 16",
            "> 2 0 2",
            "* 3 0 16",
            "> 3 0 3",
        ],
        actions=[
            "near side: store placeholder of far side UID 2 with flags S",
            "near side: store copy of far side UID 3 with flags S",
        ],
        after=state(3, 3, "1 1 S", "2 2 >S", "3 3 S"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "Sync Old does not copy an old deleted message into an expunged side",
        far=[(1, "S", "a"), (2, "ST", "b")],
        near=[(1, "S", "a")],
        before=state(2, 1, "1 1 S"),
        options=options("pull-old", expunge="near", isync15=True),
        journal=["+ 2 0", "- 2 0"],
        actions=[],
        after=state(2, 1, "1 1 S"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "ExpireSide Far expires the oldest far messages, flagged ones kept",
        far=[
            (1, "S", "a"),
            (2, "S", "b"),
            (3, "FS", "c"),
            (4, "S", "d"),
            (5, "S", "e"),
            (6, "S", "f"),
        ],
        near=[
            (1, "S", "a"),
            (2, "S", "b"),
            (3, "FS", "c"),
            (4, "S", "d"),
            (5, "S", "e"),
            (7, "S", "g"),
        ],
        before=state(5, 5, "1 1 S", "2 2 S", "3 3 FS", "4 4 S", "5 5 S"),
        options=options(expunge="far", max_messages=3, expire_side=Side.FAR, isync15=True),
        journal=[
            "+ 0 7",
            "+ 6 0",
            "~ 1 1 1",
            "~ 2 2 1",
            "~ 1 1 3",
            "~ 2 2 3",
            "F 0 7",
            "F 1 8",
            "# 0 7 TUID00000001",
            "# 6 0 TUID00000002",
            "* 0 7 16",
            "< 0 7 7",
            "* 6 0 16",
            "> 6 0 8",
        ],
        actions=[
            "far side: UID 1: flags +T -",
            "far side: UID 2: flags +T -",
            "far side: store copy of near side UID 7 with flags S",
            "near side: store copy of far side UID 6 with flags S",
            "far side: expunge UIDs 1,2",
        ],
        # The bound of expired near UIDs is MaxExpiredNearUid.
        after=_HEADER
        + "MaxPulledUid 7\nMaxPushedUid 8\nMaxExpiredNearUid 2\n\n"
        + "3 3 FS\n4 4 S\n5 5 S\n7 7 S\n6 8 S\n",
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "ExpireSide Far with Sync Full brings back an expired message flagged near",
        far=[(3, "FS", "c"), (4, "S", "d"), (5, "S", "e"), (6, "S", "f"), (7, "S", "g")],
        near=[
            (1, "FS", "a"),
            (2, "S", "b"),
            (3, "FS", "c"),
            (4, "S", "d"),
            (5, "S", "e"),
            (7, "S", "g"),
            (8, "S", "f"),
        ],
        before=_HEADER
        + "MaxPulledUid 7\nMaxPushedUid 8\nMaxExpiredNearUid 2\n\n"
        + "3 3 FS\n4 4 S\n5 5 S\n7 7 S\n6 8 S\n",
        options=options(
            "pull pull-old push push-old",
            expunge="far",
            max_messages=3,
            expire_side=Side.FAR,
            isync15=True,
        ),
        journal=[
            "+ 0 1",
            "~ 4 4 1",
            "~ 4 4 3",
            "F 0 8",
            "# 0 1 TUID00000001",
            "* 0 1 18",
            "< 0 1 8",
        ],
        actions=[
            "far side: UID 4: flags +T -",
            "far side: store copy of near side UID 1 with flags FS",
            "far side: expunge UIDs 4",
        ],
        after=_HEADER
        + "MaxPulledUid 8\nMaxPushedUid 8\nMaxExpiredNearUid 4\n\n"
        + "3 3 FS\n5 5 S\n7 7 S\n6 8 S\n8 1 FS\n",
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "MaxMessages with MaxSize: placeholders count and flagged ones get placeholders too",
        far=_FAR,
        near=[],
        big=["b", "c", "e"],
        options=options(max_messages=3, expire_unread=True, near_max_size=1000, isync15=True),
        journal=[
            "| 1 1",
            "+ 1 0",
            "+ 2 0",
            "_ 2 0",
            "+ 3 0",
            "_ 3 0",
            "+ 4 0",
            "+ 5 0",
            "_ 5 0",
            "+ 6 0",
            "= 1 0",
            "= 2 0",
            "F 1 1",
            "# 3 0 TUID00000001",
            "# 4 0 TUID00000002",
            "# 5 0 TUID00000003",
            "# 6 0 TUID00000004",
            "* 3 0 16",
            "> 3 0 1",
            "* 4 0 16",
            "> 4 0 2",
            "> 5 0 3",
            "* 6 0 16",
            "> 6 0 4",
        ],
        actions=[
            "near side: store placeholder of far side UID 3 with flags S",
            "near side: store copy of far side UID 4 with flags S",
            "near side: store placeholder of far side UID 5 with flags -",
            "near side: store copy of far side UID 6 with flags S",
        ],
        after=_PLACEHELD,
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "Flagging a placeholder upgrades it with the real message's flag changes",
        # The placeholder (near 1) was flagged and un-seen: the real far 3
        # loses Seen, the copy gets the far flags (Flagged), not Seen.
        far=[*_FAR, (7, "S", "g")],
        near=[(1, "F", "c"), (2, "S", "d"), (3, "", "e"), (4, "S", "f")],
        big=["b", "c", "e"],
        before=_PLACEHELD,
        options=options(expunge="near", near_max_size=1000, isync15=True),
        journal=[
            "^ 3 1 0 16",
            "+ 7 0",
            "* 3 0 0",
            "F 1 5",
            "# 3 0 TUID00000001",
            "# 7 0 TUID00000002",
            "* 3 0 2",
            "> 3 0 5",
            "* 7 0 16",
            "> 7 0 6",
        ],
        actions=[
            "far side: UID 3: flags + -S",
            "near side: UID 1: flags +T -",
            "near side: store copy of far side UID 3 with flags F",
            "near side: store copy of far side UID 7 with flags S",
            "near side: expunge UIDs 1",
        ],
        after=state(7, 6, "3 5 F", "4 2 S", "5 3 >", "6 4 S", "7 6 S", expired=2),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "An upgrading placeholder is important for MaxMessages",
        far=[*_FAR, (7, "S", "g")],
        near=[(1, "F", "c"), (2, "S", "d"), (3, "", "e"), (4, "S", "f")],
        big=["b", "c", "e"],
        before=_PLACEHELD,
        options=options(
            expunge="near", max_messages=3, expire_unread=True, near_max_size=1000, isync15=True
        ),
        journal=[
            "^ 3 1 0 16",
            "+ 7 0",
            "~ 4 2 1",
            "* 3 0 0",
            "~ 4 2 3",
            "F 1 5",
            "# 3 0 TUID00000001",
            "# 7 0 TUID00000002",
            "* 3 0 2",
            "> 3 0 5",
            "* 7 0 16",
            "> 7 0 6",
        ],
        actions=[
            "far side: UID 3: flags + -S",
            "near side: UID 1: flags +T -",
            "near side: UID 2: flags +T -",
            "near side: store copy of far side UID 3 with flags F",
            "near side: store copy of far side UID 7 with flags S",
            "near side: expunge UIDs 1,2",
        ],
        after=state(7, 6, "3 5 F", "5 3 >", "6 4 S", "7 6 S", expired=4),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "A placeholder whose real message is flagged is important for MaxMessages",
        # Near 1 is the placeholder of the flagged far 3: kept, near 2 goes.
        far=[*_FAR, (7, "S", "g")],
        near=[(1, "S", "c"), (2, "S", "d"), (3, "", "e"), (4, "S", "f")],
        big=["b", "c", "e"],
        before=_PLACEHELD,
        options=options(
            expunge="near", max_messages=3, expire_unread=True, near_max_size=1000, isync15=True
        ),
        journal=[
            "+ 7 0",
            "~ 4 2 1",
            "~ 4 2 3",
            "F 1 5",
            "# 7 0 TUID00000001",
            "* 7 0 16",
            "> 7 0 5",
        ],
        actions=[
            "near side: UID 2: flags +T -",
            "near side: store copy of far side UID 7 with flags S",
            "near side: expunge UIDs 2",
        ],
        after=state(7, 5, "3 1 >S", "5 3 >", "6 4 S", "7 5 S", expired=4),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "A new deleted message is not copied when either side expunges",
        # isync 1.5: far 2 and 3 would be expunged on their own side (1.4
        # copies them, only the target's Expunge dooms them); near 2 is
        # not pushed either (the far side expunges).
        far=[(1, "S", "a"), (2, "ST", "b"), (3, "T", "c")],
        near=[(1, "S", "a"), (2, "T", "d")],
        before=state(1, 1, "1 1 S"),
        options=options(expunge="far", isync15=True),
        journal=["+ 0 2", "- 0 2", "+ 2 0", "- 2 0", "+ 3 0", "- 3 0"],
        actions=["far side: expunge UIDs 2,3"],
        after=state(3, 2, "1 1 S"),
        mbsync=MBSYNC15,
    ),
    PlanRow(
        "A copy an interrupted run left pending is resumed without New",
        # The journal of a run interrupted after it made the record of far
        # 3 (its copy not stored): isync 1.5 loads the far side's new
        # messages for it and copies it whatever the operations (any_new);
        # 1.4 leaves it for a run with New.
        far=[(1, "S", "a"), (2, "S", "b"), (3, "", "c")],
        near=[(1, "S", "a"), (2, "S", "b")],
        before=state(2, 2, "1 1 S", "2 2 S"),
        replay=["+ 3 0"],
        options=options("pull-flags push-flags", isync15=True),
        journal=["F 1 3", "# 3 0 TUID00000001", "> 3 0 3"],
        actions=["near side: store copy of far side UID 3 with flags -"],
        after=state(3, 3, "1 1 S", "2 2 S", "3 3 "),
    ),
    PlanRow(
        "The max UID stops at the first unknown message, a paired one above it too",
        # Near 1 and 2 are new, near 3 the copy of far 1: isync 1.5 raises
        # MaxPushedUid with the new messages it pushes (to 2), not with
        # near 3, which comes after them (1.4 raises it to 3 as well).
        far=[(1, "RS", "a")],
        near=[(1, "", "b"), (2, "FS", "c"), (3, "RS", "a")],
        before=state(1, 0, "1 3 RS"),
        options=options(isync15=True),
        journal=[
            "+ 0 1",
            "+ 0 2",
            "F 0 2",
            "# 0 1 TUID00000001",
            "# 0 2 TUID00000002",
            "< 0 1 2",
            "* 0 2 18",
            "< 0 2 3",
        ],
        actions=[
            "far side: store copy of near side UID 1 with flags -",
            "far side: store copy of near side UID 2 with flags FS",
        ],
        after=state(3, 2, "1 3 RS", "2 1 ", "3 2 FS"),
    ),
    PlanRow(
        "Push sends the deletion to a far copy it does not load",
        # As in 1.4 (tests.sync.test_reconcile); found by the fuzzer
        # against mbsync 1.5.0 on Dovecot (tests.integration.test_fuzz_interop,
        # test_isync15_push_delete_unloaded_target). Checked by hand
        # against mbsync 1.5.0 on Dovecot: UID STORE 1 +FLAGS.SILENT
        # (\Deleted), state "1 1".
        far=[(1, "T", "a")],
        near=[],
        before=state(1, 1, "1 1"),
        options=options("push", isync15=True),
        far_imap=True,
        journal=[],
        actions=["far side: UID 1: flags +T -"],
        after=state(1, 1, "1 1"),
    ),
    PlanRow(
        "Push does not raise the far max UID over far messages it does not load",
        # Far 2 is near 1's pushed copy; mbsync's IMAP driver loads no far
        # message for Sync Push, so 1.5's raise over the paired messages
        # (up to the first unknown one) finds none and MaxPulledUid stays
        # 0, although msync lists far 2; the push of near 2 has the state
        # written (fuzzer, isync 1.5 IMAP seed 40). Checked by hand against
        # mbsync 1.5.0 on Dovecot: MaxPulledUid 0 (msync before: 2).
        far=[(2, "S", "a"), (3, "S", "b")],
        near=[(1, "S", "a"), (2, "", "c")],
        before=state(0, 1, "2 1 S"),
        options=options("push", isync15=True),
        far_imap=True,
        journal=["+ 0 2", "F 0 4", "# 0 2 TUID00000001", "< 0 2 4"],
        actions=["far side: store copy of near side UID 2 with flags -"],
        after=state(0, 2, "2 1 S", "4 2"),
    ),
]


class Planner15TableTests(SynchronousTestCase):
    """
    The isync 1.5 planner table: one test method per row (added below).
    """


add_row_tests(
    Planner15TableTests,
    ROWS15,
    lambda row: row.name,
    check_row,
    "isync 1.5 planner row {name!r}: the planner decides the row's journal "
    "lines, store actions and notices, and leaves the row's state.",
)


class UpgradeMaskTests(SynchronousTestCase):
    """
    isync 1.5 masks C{Upgrade} towards a side without placeholders
    (C{box_opened2}: "no far side dummies; masking Upgrade"), so it
    neither widens that side's loads nor the other's; 1.4's C{ReNew} is
    never masked.
    """

    def plan(self, before: str, *, isync15: bool, driver_widens: bool = False) -> PairWork:
        work = PairWork(
            parse_state(before.encode(), "state"),
            options("push", isync15=isync15),
            existed=True,
            replayed=False,
            boxes={Side.FAR: "INBOX", Side.NEAR: "INBOX"},
            uid_validity={Side.FAR: 1, Side.NEAR: 1},
            driver_widens={Side.FAR: driver_widens, Side.NEAR: True},
        )
        reconcile.plan_loads(work)
        return work

    def test_masked_without_placeholders(self) -> None:
        """
        Pushing with no placeholder anywhere: C{Upgrade} towards the far
        side is masked (the near side has none to mask), so the far side (an IMAP box, which sets flags by UID
        without loading them) is not seen loading its old messages, and a
        far message expunged meanwhile is not taken for gone.
        """
        work = self.plan(state(3, 3, "1 1 S", "2 2 S", "3 3 S"), isync15=True)
        self.assertEqual(work.upgrade_masked, frozenset({Side.FAR}))
        self.assertFalse(work.options.far.ops & SyncOp.RENEW)
        self.assertFalse(work.op_bits[Side.FAR] & SyncOp.RENEW.value)
        self.assertFalse(work.loads_old[Side.FAR])
        self.assertTrue(work.loads_old[Side.NEAR])

    def test_kept_for_a_side_with_placeholders(self) -> None:
        """
        A far placeholder (C{<}) keeps C{Upgrade} towards the far side; a
        legacy skipped record without a far UID counts for the far side too.
        """
        for line in ("3 3 <S", "0 3 ^"):
            work = self.plan(state(3, 3, "1 1 S", "2 2 S", line), isync15=True)
            self.assertEqual(work.upgrade_masked, frozenset(), line)
            self.assertTrue(work.options.far.ops & SyncOp.RENEW, line)
            self.assertTrue(work.loads_old[Side.FAR], line)

    def test_not_in_14(self) -> None:
        """
        mbsync 1.4's C{ReNew} loads the old messages of both sides.
        """
        work = self.plan(state(3, 3, "1 1 S", "2 2 S", "3 3 S"), isync15=False)
        self.assertEqual(work.upgrade_masked, frozenset())
        self.assertTrue(work.options.far.ops & SyncOp.RENEW)
        self.assertTrue(work.loads_old[Side.FAR])

    def test_without_upgrade(self) -> None:
        """
        L{PairOptions.without_upgrade} takes C{Upgrade} out of the named
        sides only.
        """
        both = options("all", isync15=True)
        masked = both.without_upgrade([Side.NEAR])
        self.assertEqual(masked.near.ops, both.near.ops & ~SyncOp.RENEW)
        self.assertEqual(masked.far, both.far)
        self.assertTrue(masked.isync15)
