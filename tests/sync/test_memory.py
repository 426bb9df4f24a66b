"""
What a box pair sync holds per message, measured with C{tracemalloc} on a
pair of in-memory stores: bounds that fail if a per-message object (a
listing entry, a copy's object, a dictionary entry per message) is kept
where the compact forms are meant to be. No timing is asserted.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Side
from msync.sync import engine
from tests.sync.scenarios import BOX, options, state
from tests.sync.test_engine import prepared

#: Messages in the far box (a first pull copies them all).
COUNT = 20_000

#: Bytes per message the sync may hold when the copies start: the record
#: (about 150 bytes with its UIDs), its index entry, its TUID and its entry
#: in the copy plan came to 253 (249 with records of eight slots). A listing kept (a L{MessageInfo} and its
#: UID, about 130 bytes: 379 measured), or a copy object (about 90) and a
#: dictionary entry (about 50) per message, pass it.
BOUND = 300


def allocated_when_copying(test: SynchronousTestCase, pair: Any, target: Side, peak: bool) -> int:
    """
    Run C{pair}'s sync under C{tracemalloc} and answer what it had
    allocated since it began (or, with C{peak}, the highest point so far)
    when the engine started its one copy step to C{target}.
    """
    seen: list[int] = []
    original = engine._BoxPairSync.copy

    async def copy(self: Any, work: Any, side: Side, copies: Any) -> None:
        if side is target:
            seen.append(tracemalloc.get_traced_memory()[1 if peak else 0])
        await original(self, work, side, copies)

    test.patch(engine._BoxPairSync, "copy", copy)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        test.successResultOf(pair.start(options()))
    finally:
        tracemalloc.stop()
    test.assertEqual(len(seen), 1)
    return seen[0] - before


class PullMemoryTests(SynchronousTestCase):
    """
    The memory of a first pull of L{COUNT} messages when the copies start.
    """

    def test_per_message_when_copies_start(self) -> None:
        """
        When the engine starts copying, what the sync allocated since it
        began is under L{BOUND} bytes per message, and every message is
        then copied.
        """
        pair = prepared(self, [(uid, "S", f"m{uid}") for uid in range(1, COUNT + 1)], [])
        per_message = allocated_when_copying(self, pair, Side.NEAR, peak=False) / COUNT
        self.assertLess(per_message, BOUND)
        self.assertEqual(len(pair.near.messages(BOX)), COUNT)


#: Messages paired in the box before a push (case (d) of C{bench/}: a full
#: run of a big box whose near side got new messages).
PAIRED = 20_000

#: New near messages the push copies.
PUSHED = 200

#: Bytes per paired message a full run may hold at its highest point
#: before its copies start: the state record (96 bytes) with its UIDs and
#: index entries, each side's listing as columns
#: (L{msync.model.MessageListing}) and its links by position came to 257.
#: A L{MessageInfo} and its UID per listed message on each side with a
#: dictionary entry per link (520 measured before the columns), or records
#: of twelve slots, 128 bytes (289 measured), pass it.
PUSH_BOUND = 280


class PushMemoryTests(SynchronousTestCase):
    """
    The memory of a full run of L{PAIRED} paired messages that pushes
    L{PUSHED} new near ones, when its copies start.
    """

    def test_per_message_when_copies_start(self) -> None:
        """
        When the engine starts copying to the far side, what the sync
        allocated since it began (the state read, both listings, the
        plan) is under L{PUSH_BOUND} bytes per paired message, and the new
        messages are then all on the far side.
        """
        paired = [(uid, "S", f"m{uid}") for uid in range(1, PAIRED + 1)]
        new = [(uid, "", f"n{uid}") for uid in range(PAIRED + 1, PAIRED + PUSHED + 1)]
        records = [f"{uid} {uid} S" for uid in range(1, PAIRED + 1)]
        pair = prepared(self, paired, paired + new, before=state(PAIRED, PAIRED, *records))
        # The highest point of planning, before any copy.
        per_message = allocated_when_copying(self, pair, Side.FAR, peak=True) / PAIRED
        self.assertLess(per_message, PUSH_BOUND)
        self.assertEqual(len(pair.far.messages(BOX)), PAIRED + PUSHED)
