# -*- test-case-name: tests.sync.test_copyrun,tests.sync.test_engine -*-
"""
One copy run of a box pair: the messages of a L{CopyPlan} fetched from the
source box, converted and stored into the target box, and each outcome
journaled (mbsync C{msgs_copied}, C{msg_copied}), driven by one loop.

The loop keeps L{FETCH_AHEAD} fetches going beyond the copies under way
(the source store pipelines them) and as many copies under way as the
target asks for (C{copies_in_flight}; one under mbsync's C{-Tj<N>}). It
sleeps only when nothing it can do is ready, and wakes when what it waits
for (the first copy under way, or the next fetched body when a copy may
begin) is there: a store that settles a batch of copies (a Maildir
batch, a body FETCH of many UIDs) settles its last one first, so the loop
wakes once per batch and takes the whole batch in one go, with no
coroutine and no chain of Deferreds per message.

Invariants:
  - Stores are called in source UID order, each after the one before it
    was called (so the target numbers them as one at a time would).
  - Outcomes are journaled in the same order, each only once its store
    call's Deferred fired (a Maildir file is in place, and synced with
    FSync, by then): a line never comes before its file. The lines of the
    copies that finish together are held and written in one C{write}
    just before the loop sleeps (L{StateFile.write}'s group commit).
  - A L{MessageError} (no such message at the source, an incomplete
    header, a store refusing the message) gives the copy up: its record
    is killed. Any other error is raised when the loop reaches that copy
    (those before it are journaled first); what is under way then is
    waited for, its errors only logged.
  - At most C{FETCH_AHEAD + copies_in_flight} bodies are held (each at
    most 256 KiB in memory; bigger ones are spooled by the store).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from msync.errors import MessageError
from msync.model import Side
from msync.report import Severity
from msync.stores.interface import IMailbox, IMessageBody, IMessageSource, IStore
from msync.sync import reconcile
from msync.sync.actions import CopyMessage, CopyPlan
from msync.sync.bodies import convert_body, convert_held
from msync.sync.convert import Conversion
from msync.sync.options import PairOptions
from msync.sync.pairwork import PairWork
from msync.sync.reconcile import Step
from msync.sync.results import PairProgress
from msync.sync.statefile import StateFile

__all__ = ["FETCH_AHEAD", "CopyPair", "copy_all"]

log = Logger()

_T = TypeVar("_T")

#: How many message bodies a copy run fetches ahead of the copies under
#: way (converting or being stored): enough to keep an IMAP connection's
#: pipeline busy across round trips while the target makes the copies
#: before them durable (32 fetches per round trip: 1,600 messages a second
#: at 20 ms; counted from the copies under way, the network and the disk
#: work at once, as mbsync's fetches go on while it writes), few enough
#: that the bodies held stay small (an IMAP store keeps at most 256 KiB of
#: each in memory, the rest is spooled to disk).
FETCH_AHEAD = 32


class CopyPair(Protocol):
    """
    What a copy run uses of its box pair's run (the engine's).
    """

    stores: dict[Side, IStore]
    boxes: dict[Side, IMailbox]
    options: PairOptions
    statefile: StateFile
    progress: PairProgress
    counts: dict[str, dict[Side, int]]
    settled: bool

    @property
    def dry(self) -> bool:
        """
        Whether this is a dry run (nothing written).
        """

    def notify(self, severity: Severity, text: str) -> None:
        """
        Show a warning or notice.
        """

    def take(self, step: Step[_T], *, hold: bool = False) -> _T:
        """
        Journal a planner step, return its actions.
        """


class _Slot:
    """
    One copy under way: its fetch, then its store. L{outcome} is what the
    Deferred being watched gave (the body; then the new UID, C{None} or
    C{False}), or a L{Failure}; L{waiting} says it has not fired yet.
    """

    __slots__ = ("item", "watched", "waiting", "outcome", "wake")

    def __init__(self, item: CopyMessage) -> None:
        self.item = item
        self.watched: Deferred[Any] | None = None
        self.waiting = False
        self.outcome: Any = None
        # The loop's alarm while it sleeps waiting for this slot.
        self.wake: Deferred[None] | None = None

    def watch(self, watched: Deferred[Any]) -> None:
        """
        Take C{watched}'s result when it fires (at once if it has).
        """
        self.waiting = True
        self.watched = watched
        watched.addBoth(self._fired)

    def _fired(self, result: Any) -> None:
        # The result (or failure) is kept here: the Deferred is left with
        # None, its failure handled.
        self.waiting = False
        self.outcome = result
        wake, self.wake = self.wake, None
        if wake is not None:
            wake.callback(None)


async def copy_all(
    pair: CopyPair, work: PairWork, target: Side, copies: CopyPlan, in_flight: int
) -> None:
    """
    Copy C{copies} to C{target}, keeping fetches and stores under way.
    The plan is consumed: a copy is taken from it as its fetch starts,
    and dropped from memory as soon as it is recorded.

    @param in_flight: how many copies to keep under way (stores called,
        not yet journaled).
    """
    run = _CopyRun(pair, work, target)
    try:
        await run.run(copies, in_flight)
    finally:
        await run.settle()


class _CopyRun:
    """
    The state of one copy run (see L{copy_all}).
    """

    def __init__(self, pair: CopyPair, work: PairWork, target: Side) -> None:
        self.pair = pair
        self.work = work
        self.target = target
        self.source = target.other
        self.source_box = pair.boxes[target.other]
        self.target_box = pair.boxes[target]
        options = pair.options
        self.line_endings = (
            pair.stores[target.other].line_ending,
            pair.stores[target].line_ending,
        )
        self.upgrade_word = "Upgrade" if options.isync15 else "ReNew"
        self.arrival_dates = options.copy_arrival_date
        together = getattr(self.target_box, "stores_together", None)
        self.together: Callable[[], AbstractContextManager[None]] = (
            together if together is not None else contextlib.nullcontext
        )
        # Fetched (or being fetched), store not yet called; store called
        # (or the copy given up), not yet journaled.
        self.ahead: deque[_Slot] = deque()
        self.copying: deque[_Slot] = deque()

    async def run(self, copies: CopyPlan, in_flight: int) -> None:
        pair, target = self.pair, self.target
        ahead, copying = self.ahead, self.copying
        total = len(copies)
        fetch_ahead = FETCH_AHEAD + in_flight
        started = index = 0
        # Copies recorded but not yet counted in the progress: counted in
        # one step before the loop sleeps (a batch's copies finish in one
        # turn of the reactor, so a progress line drawn per copy would
        # show the same), not one redraw per message.
        recorded = 0
        try:
            while index < total:
                # Journal the copies done, in order.
                while copying and not copying[0].waiting:
                    self.record(copying.popleft())
                    index += 1
                    recorded += 1
                if index == total:
                    break
                # Keep fetch_ahead fetches going, asked for together (the
                # store pipelines them, several UIDs per command).
                if started < total and started < index + fetch_ahead:
                    more = min(total, index + fetch_ahead) - started
                    self.fetch([_Slot(copies.take()) for _ in range(more)])
                    started += more
                # Begin the copies whose bodies are here, in order (a
                # Maildir writes them in full batches, from the end of
                # the block).
                if ahead and not ahead[0].waiting and len(copying) < in_flight:
                    with self.together():
                        while ahead and not ahead[0].waiting and len(copying) < in_flight:
                            slot = ahead.popleft()
                            copying.append(slot)
                            await self.begin(slot)
                if copying and not copying[0].waiting:
                    continue
                # Nothing ready: count, write the lines held so far (those
                # of one batch of stored files) in one write, and sleep
                # until the first copy under way is done, or the next body
                # is here while a copy may begin.
                if recorded:
                    pair.progress.add(target, "new", done=recorded)
                    recorded = 0
                if not pair.dry:
                    pair.statefile.flush()
                wake: Deferred[None] = Deferred()
                watched = list(itertools.islice(copying, 1))
                if ahead and len(copying) < in_flight:
                    watched.append(ahead[0])
                assert watched, "a copy run sleeping with nothing under way"
                for slot in watched:
                    slot.wake = wake
                await wake
                for slot in watched:
                    slot.wake = None
                del watched
            if not pair.dry:
                pair.statefile.flush()
        finally:
            if recorded:
                pair.progress.add(target, "new", done=recorded)

    def fetch(self, slots: list[_Slot]) -> None:
        """
        Start the fetches of C{slots} (in the source box's C{fetch_many}
        when it has one), in order.
        """
        self.ahead.extend(slots)
        uids = [slot.item.uid for slot in slots]
        fetch_many = getattr(self.source_box, "fetch_many", None)
        fetched = (
            fetch_many(uids)
            if fetch_many is not None
            else [self.source_box.fetch(uid) for uid in uids]
        )
        for slot, each in zip(slots, fetched, strict=True):
            slot.watch(each)

    def record(self, slot: _Slot) -> None:
        """
        Journal the outcome of a copy whose turn came (its lines held for
        the next write).
        """
        pair, work, target = self.pair, self.work, self.target
        outcome, item = slot.outcome, slot.item
        if isinstance(outcome, Failure):
            outcome = self.refusal(outcome, item)
        if outcome is not False:
            pair.take(reconcile.copied(work, item, outcome), hold=True)
            pair.counts["new"][target] += 1
        else:
            pair.settled = False
            pair.take(reconcile.copy_failed(work, item), hold=True)

    async def begin(self, slot: _Slot) -> None:
        """
        Convert the body C{slot}'s fetch gave and call the store with it;
        the slot then watches the store's Deferred. A copy given up has
        the outcome C{False}; an error other than L{MessageError} is kept
        as the outcome, raised when the copy's turn comes.
        """
        body = slot.outcome
        slot.outcome = None
        if isinstance(body, Failure):
            slot.outcome = False if body.check(MessageError) else body
            return
        try:
            message = await self.convert(slot.item, body)
        except MessageError:
            self.pair.notify(
                Severity.WARNING,
                f"Warning: message {slot.item.uid} from {self.source.label} side has "
                "incomplete header; skipping.",
            )
            slot.outcome = False
            return
        except Exception:
            slot.outcome = Failure()
            return
        date = body.arrival_date if self.arrival_dates else None
        try:
            stored = self.target_box.store(message, slot.item.flags, date)
        except MessageError:
            self.refused(slot.item)
            slot.outcome = False
            return
        except Exception:
            slot.outcome = Failure()
            return
        slot.watch(stored)

    async def convert(self, item: CopyMessage, body: IMessageBody) -> IMessageSource:
        """
        C{body} converted for the target (line endings, the X-TUID line, a
        placeholder): in one call when it is held in memory.

        @raise MessageError: its header is incomplete.
        """
        tuid = item.record.tuid
        assert tuid is not None
        source, target = self.line_endings
        conversion = Conversion(
            source=source,
            target=target,
            tuid=tuid,
            placeholder_size=(item.size or 0) if item.placeholder else None,
            upgrade_word=self.upgrade_word,
        )
        converted = convert_held(body, conversion)
        if converted is not None:
            return converted
        return await convert_body(body, conversion)

    def refusal(self, failure: Failure, item: CopyMessage) -> bool:
        """
        A copy's failure when its turn comes: a L{MessageError} from the
        store gives it up (C{False}); anything else is raised.
        """
        if failure.check(MessageError):
            self.refused(item)
            return False
        failure.raiseException()

    def refused(self, item: CopyMessage) -> None:
        self.pair.notify(
            Severity.WARNING,
            f"Warning: {self.target.label} side refuses to store message {item.uid} "
            f"from {self.source.label} side.",
        )

    async def settle(self) -> None:
        """
        Wait for fetches and copies nobody will use, after a copy run
        stopped early: the pair is already failing with the error to
        report, so theirs are only logged.
        """
        for slots in (self.copying, self.ahead):
            await _settle(slots)
            slots.clear()


async def _settle(slots: Collection[_Slot]) -> None:
    for slot in slots:
        if slot.waiting and slot.watched is not None:
            # Fires with None (its outcome is kept by the slot).
            await slot.watched
        if isinstance(slot.outcome, Failure):
            log.debug("unused fetch or copy failed: {error}", error=slot.outcome.value)
