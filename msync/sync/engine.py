# -*- test-case-name: tests.sync.test_engine -*-
"""
The channel synchronizer for one mailbox pair: opens (or creates, or
removes) the two boxes, loads them, and carries out what the planner's
steps (L{msync.sync.reconcile}) decide, writing each step's journal
operations to the pair's L{StateFile} before touching a store (mbsync 1.4
C{sync_boxes}).

Invariants:
  - Order of operations as mbsync's §4.1 pipeline: lock and load the state;
    open both boxes; load both; flag updates (far, then near); trash; make
    the journal durable after C{F} and C{#} lines and before the first
    copy; copies to far, then to near (finding copies by TUID where the
    store did not report UIDs); expunge far, then near; max UIDs, purge,
    commit.
  - A TUID is durable in the journal before its copy is stored, so no
    crash, at any store operation or journal line, loses or duplicates a
    message: the next run finds copies by TUID above the journaled C{F}
    UIDNEXT and copies again only what is really missing.
  - Copies are handed to the target store in source UID order (so it
    numbers them as one at a time would), up to L{COPIES_IN_FLIGHT} at once
    or as many as the target box asks for (C{copies_in_flight}: more for
    IMAP MULTIAPPEND batches), one at a time under mbsync's C{-Tj<N>} (as
    mbsync copies),
    while the next bodies are being fetched (the source store pipelines
    them); each outcome is journaled in that order, after its store call
    returned (a Maildir file is durable by then): at most
    L{msync.sync.copyrun.FETCH_AHEAD} bodies more than the copies under way are fetched and
    not yet stored, each read in chunks (an IMAP store spools big ones to disk). Bodies are converted
    (CRLF/LF, X-TUID, placeholders) while streaming (L{msync.sync.bodies}).
  - A L{MessageError} skips one message (the record is killed, as mbsync
    does); any other L{StoreError} aborts the pair: the journal stays for
    the next run, nothing is committed.
  - C{dry_run} changes nothing anywhere: the state is opened read-only
    (no lock file, no directory; a live journal is replayed in memory),
    boxes are opened read-only (IMAP C{EXAMINE}; Maildir without lock,
    C{.uidvalidity}, renames or cleanup, unnumbered files getting the
    provisional UIDs a real run would give them), a box to create is an
    empty L{_AbsentMailbox}; only loads run, and the result lists what a
    real run would do.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from msync.config.schema import SyncOp
from msync.errors import MailboxError, MailboxMissing, MessageError
from msync.model import (
    ALL_FLAGS,
    BoxName,
    FlagChange,
    Flags,
    LoadRequest,
    MessageInfo,
    MessageListing,
    Side,
)
from msync.report import Severity, describe_notice
from msync.stores.interface import (
    IFingerprinted,
    IListingCache,
    IListingChanges,
    IMailbox,
    IMessageBody,
    IMessageSource,
    IStore,
    IUnlistedOpen,
    ListingChanges,
)
from msync.sync import quickcheck, reconcile
from msync.sync.actions import CopyPlan, FlagUpdate, TrashMessage
from msync.sync.bodies import convert_body
from msync.sync.convert import Conversion
from msync.sync.copyrun import copy_all
from msync.sync.journal import JOURNAL_VERSION, SetMaxUid
from msync.sync.loading import placeholder_sides
from msync.sync.options import PairOptions
from msync.sync.pairwork import PairWork, live, random_tuid
from msync.sync.reconcile import Step
from msync.sync.results import PairProgress, PairResult
from msync.sync.statefile import StateFile
from msync.sync.statelock import (
    NO_TESTING,
    JournalTesting,
    SystemCalls,
    held_lock,
)
from msync.sync.statepaths import StatePaths, listing_cache_path

__all__ = ["COPIES_IN_FLIGHT", "sync_pair"]

log = Logger()

T = TypeVar("T")

#: How many copies are under way at once (converting or being stored): a
#: store may make one durable while the next is written. They are handed
#: to the store in source UID order, and their outcomes journaled in that
#: order, each only once its store call returned.
COPIES_IN_FLIGHT = 8


def _notify_log(severity: Severity, text: str) -> None:
    log.info("{severity}: {text}", severity=severity.value, text=text)


@implementer(IMailbox)
class _AbsentMailbox:
    """
    A box a dry run would create: empty, and never written.
    """

    uid_validity = 0
    uid_next = 1
    permanent_flags = ALL_FLAGS

    def __init__(self, name: BoxName) -> None:
        self.name = name

    def load(self, request: LoadRequest) -> Deferred[MessageListing]:
        return succeed(MessageListing())

    def _refuse(self) -> RuntimeError:
        return RuntimeError(f"dry run: mailbox {self.name} does not exist")

    def fetch(self, uid: int) -> Deferred[IMessageBody]:
        raise self._refuse()

    def store(
        self, message: IMessageSource, flags: Flags, arrival_date: datetime | None = None
    ) -> Deferred[int | None]:
        raise self._refuse()

    def find_by_tuid(self, tuids: Collection[str], min_uid: int) -> Deferred[dict[str, int]]:
        raise self._refuse()

    def set_flags(self, changes: Sequence[FlagChange]) -> Deferred[None]:
        raise self._refuse()

    def trash(self, uids: Collection[int], trash_box: BoxName) -> Deferred[list[int]]:
        raise self._refuse()

    def expunge(self, uids: Collection[int] | None = None) -> Deferred[list[int]]:
        raise self._refuse()

    def close(self) -> Deferred[None]:
        return succeed(None)


class _BoxPairSync:
    """
    One run of one box pair.
    """

    def __init__(
        self,
        stores: dict[Side, IStore],
        names: dict[Side, BoxName],
        options: PairOptions,
        statefile: StateFile,
        progress: PairProgress,
        notify: Callable[[Severity, str], None],
        new_tuid: Callable[[], str],
        one_at_a_time: bool = False,
    ) -> None:
        self.one_at_a_time = one_at_a_time
        # A partial run (see select_records): the near box's fingerprint as
        # the last sync left it (with the hint the quick check saw it with,
        # if any), and the far box's changes since its listing, once the
        # records they touch are selected.
        self.near_known: bytes | None = None
        self.changes: ListingChanges | None = None
        # isync 1.5, a partial run: every UID each box holds and each
        # side's UID of every record line (see select_records).
        self.held: dict[Side, Sequence[int]] = {}
        self.paired: dict[Side, Sequence[int]] = {}
        self.stores = stores
        self.names = names
        self.options = options
        self.statefile = statefile
        self.progress = progress
        self._notify = notify
        self.new_tuid = new_tuid
        # Whether the run is a fixed point a sidecar may vouch for
        # (L{msync.sync.quickcheck}): nothing said beyond info, no copy
        # given up, no copy looked for by TUID.
        self.settled = True
        self.boxes: dict[Side, IMailbox] = {}
        self.created: set[Side] = set()
        self.planned: list[str] = []
        self.counts = {
            kind: {Side.FAR: 0, Side.NEAR: 0}
            for kind in ("new", "flags", "trash", "expunge", "flagged")
        }
        self.work: PairWork | None = None
        # Called once nothing more goes to the far store (its box closed):
        # the runner may send the next pair's SELECT (sync_pair's
        # far_done); then set to None, and far_released set.
        self.far_done: Callable[[], Deferred[None] | None] | None = None
        self.far_released = False

    @property
    def dry(self) -> bool:
        return self.options.dry_run

    def notify(self, severity: Severity, text: str) -> None:
        if severity is not Severity.INFO:
            self.settled = False
        self._notify(severity, text)

    def fixed_point(self) -> bool:
        """
        Whether a full run right after this one would find nothing to do,
        as far as can be told without running it: the cases where mbsync's
        work spans runs (journal replay, a UIDVALIDITY change, MaxMessages
        expiry, Trash, MaxSize placeholders, copies given up or found by
        TUID, warnings and notices a next run would repeat, messages
        expunged: their records keep both UIDs until the next run finds
        the expunged side's message gone; a side's C{MaxPulledUid} or
        C{MaxPushedUid} left below a UID paired on it, which the next run
        that loads that side's new messages raises) are excluded.
        """
        options, work = self.options, self.work
        return (
            work is not None
            and self.settled
            and not any(self.counts["expunge"].values())
            and not self.dry
            and not self.statefile.replayed
            and not work.changed
            and options.max_messages == 0
            and all(
                side.trash is None and not side.trash_remote_new and side.max_size is None
                for side in (options.far, options.near)
            )
            # Last: the only test that reads every record.
            and (_unmarked(work) if options.isync15 else _maxed(work))
        )

    def remember(self) -> None:
        """
        After the commit: write the pair's sidecar if this run is a fixed
        point and both boxes can say how they were left, else remove it.
        """
        paths = self.statefile.paths
        if not self.fixed_point():
            quickcheck.forget(paths)
            return
        found = []
        for side in Side:
            box = self.boxes[side]
            fingerprint = (
                IFingerprinted(box).fingerprint() if IFingerprinted.providedBy(box) else None
            )
            if fingerprint is None:
                quickcheck.forget(paths)
                return
            vouched = getattr(box, "vouched", None)
            found.append(fingerprint if vouched is None else vouched(fingerprint))
        quickcheck.remember(paths, self.options, *found)

    def take(self, step: Step[T], *, hold: bool = False) -> T:
        """
        Write a planner step's journal operations (the planner has applied
        them to the state; a dry run keeps them in memory only), show its
        notices, and return what it asks the stores to do.

        @param hold: the lines may wait for the next write of the journal
            (L{StateFile.write}'s group commit).
        """
        if not self.dry:
            self.statefile.write(step.journal, hold=hold)
        for notice in step.notices:
            self.notify(*describe_notice(notice))
        return step.actions

    def take_leftovers(self) -> None:
        """
        After a planner step raised: journal what it decided before, as
        mbsync does before it gives up on a box.
        """
        work = self.work
        if work is not None and (work.journal or work.notices):
            self.take(reconcile.Step(tuple(work.journal), tuple(work.notices), None))
            work.journal, work.notices = [], []

    def result(self) -> PairResult:
        return PairResult(
            far_box=self.names[Side.FAR],
            near_box=self.names[Side.NEAR],
            stored=dict(self.counts["new"]),
            flag_updates=dict(self.counts["flags"]),
            trashed=dict(self.counts["trash"]),
            expunged=dict(self.counts["expunge"]),
            expunge_flagged=dict(self.counts["flagged"]),
            created=frozenset(self.created),
            planned=tuple(self.planned),
            partial=self.changes is not None,
            upgrade_masked=self.work.upgrade_masked if self.work is not None else frozenset(),
        )

    async def close_boxes(self, *, quietly: bool) -> None:
        """
        Close the open boxes (nothing is expunged). After a failure the
        first error is the one reported, so later ones are only logged.
        """
        boxes, self.boxes = self.boxes, {}
        for side, box in boxes.items():
            try:
                await box.close()
            except Exception as error:
                if not quietly:
                    raise
                # The pair is already failing with an earlier error (often
                # the same lost connection), which is the one to report.
                log.debug("closing {side} side box failed: {error}", side=side.label, error=error)

    # Opening (mbsync box_confirmed2).

    async def open_boxes(self) -> PairResult | None:
        """
        Open both boxes, creating or removing them as configured.

        @return: a final result when the pair needs no sync.
        """
        present: dict[Side, bool] = {}
        for side in Side:
            self.notify(Severity.INFO, f"Opening {side.label} side box {self.names[side]}...")
            try:
                if side is Side.NEAR and self.statefile.partial:
                    store = IUnlistedOpen(self.stores[side])
                    self.boxes[side] = await store.open_box_unlisted(self.names[side])
                else:
                    self.boxes[side] = await self.stores[side].open_box(
                        self.names[side], read_only=self.dry
                    )
            except MailboxMissing:
                present[side] = False
            else:
                present[side] = True
        channel = self.options.channel
        existed = self.statefile.existed
        if not present[Side.FAR] and not present[Side.NEAR]:
            if not existed:
                raise MailboxError(
                    f"channel {channel}: both far side {self.names[Side.FAR]} and near side "
                    f"{self.names[Side.NEAR]} cannot be opened."
                )
            # An interrupted box deletion: mbsync just drops the state.
            if not self.dry:
                self.statefile.delete()
            return replace(self.result(), state_deleted=True)
        for side in Side:
            if present[side]:
                continue
            if existed:
                return await self.remove_other(side)
            if not self.options.side(side).create:
                raise MailboxError(
                    f"channel {channel}: {side.label} side box {self.names[side]} cannot be opened."
                )
            self.notify(Severity.INFO, f"Creating {side.label} side box {self.names[side]}...")
            self.created.add(side)
            if self.dry:
                self.planned.append(f"{side.label} side: create box {self.names[side]}")
                self.boxes[side] = _AbsentMailbox(self.names[side])
            else:
                self.boxes[side] = await self.stores[side].open_box(self.names[side], create=True)
        return None

    async def remove_other(self, missing: Side) -> PairResult:
        """
        The box of C{missing} vanished since the last sync: delete the
        other one if C{Remove} allows and it is empty.
        """
        other = missing.other
        channel = self.options.channel
        if not self.options.side(other).remove:
            raise MailboxError(
                f"channel {channel}: {missing.label} side box {self.names[missing]} "
                "cannot be opened."
            )
        box = self.boxes[other]
        messages = await box.load(LoadRequest())
        if any(not info.flags & Flags.DELETED for info in messages):
            text = (
                f"Warning: channel {channel}: {missing.label} side box {self.names[missing]} "
                f"cannot be opened and {other.label} side box {self.names[other]} is not empty."
            )
            self.notify(Severity.WARNING, text)
            return replace(self.result(), skipped=text)
        self.notify(Severity.INFO, f"Deleting {other.label} side box {self.names[other]}...")
        if self.dry:
            self.planned.append(f"{other.label} side: delete box {self.names[other]}")
            return replace(self.result(), deleted_box=other)
        del self.boxes[other]
        await box.close()
        await self.stores[other].delete_box(self.names[other])
        self.statefile.delete()
        return replace(self.result(), deleted_box=other)

    # The sync.

    async def load_both(self, requests: dict[Side, LoadRequest]) -> dict[Side, MessageListing]:
        """
        Load both boxes at once, as mbsync does: both "Loading" lines come
        first, then each side's count as its load finishes (a Maildir scan
        finishes at once, so -V reads like mbsync's: near count before the
        IMAP far side's). A failure is raised once both loads have ended,
        the far side's first.
        """
        listings: dict[Side, MessageListing] = {}

        def loaded(messages: Sequence[MessageInfo], side: Side) -> MessageListing:
            listing = MessageListing.of(messages)
            recent = listing.recent_count()
            self.notify(
                Severity.INFO, f"{side.label} side: {len(listing)} messages, {recent} recent"
            )
            listings[side] = listing
            return listing

        loads = []
        for side in Side:
            self.notify(Severity.INFO, f"Loading {side.label} side box...")
            loads.append(self.boxes[side].load(requests[side]).addCallback(loaded, side))
        outcomes = await DeferredList(loads, consumeErrors=True)
        for _, value in outcomes:
            if isinstance(value, Failure):
                value.raiseException()
        return listings

    async def run(self) -> PairResult:
        final = await self.open_boxes()
        if final is not None:
            return final
        if not self.dry:
            # With SyncState * the lock lives in the near box, which may only
            # exist now that it was created.
            self.statefile.ensure_locked()
            # A box that can keep its listing between runs keeps it next to
            # the state file (never in it): msync's own, ignored by mbsync.
            # One that cannot say what changed since (a Maildir box's names)
            # keeps it only for a partial run: near, with a far box that can.
            partial_ready = IListingChanges.providedBy(self.boxes[Side.FAR])
            for side in Side:
                box = self.boxes[side]
                if IListingCache.providedBy(box) and (
                    IListingChanges.providedBy(box) or (side is Side.NEAR and partial_ready)
                ):
                    box.use_listing_cache(listing_cache_path(self.statefile.paths, side))
        if self.statefile.partial and not await self.select_records():
            self.statefile.load_all()
        work = self.work = PairWork(
            self.statefile.state,
            self.options,
            existed=self.statefile.existed,
            replayed=self.statefile.replayed,
            boxes=dict(self.names),
            uid_validity={side: self.boxes[side].uid_validity for side in Side},
            new_tuid=self.new_tuid,
            driver_widens={side: getattr(self.boxes[side], "driver_widens", True) for side in Side},
        )
        for side in Side:
            # isync 1.5: ExpungeSolo needs an expunge by UID (UIDPLUS);
            # without it every deleted message would go.
            if self.options.side(side).expunge_solo and not getattr(
                self.boxes[side], "expunges_by_uid", True
            ):
                raise MailboxError(
                    f"Error: {side.label} side of channel {self.options.channel} "
                    "does not support ExpungeSolo."
                )
        requests = self.take(reconcile.plan_loads(work))
        if self.changes is not None:
            if self.options.isync15:
                work.topping = self.topping(work)
            requests = self.partial_requests(requests, self.changes)
        listings = await self.load_both(requests)
        self.notify(Severity.INFO, "Synchronizing...")
        permanent = {side: self.boxes[side].permanent_flags for side in Side}
        try:
            updates = self.take(reconcile.reconcile(work, listings, permanent))
        except MailboxError:
            self.take_leftovers()
            raise
        # The planner holds the listings now (and lets go of them once the
        # copies are planned: forget_undeleted); not kept here as well.
        del listings
        if self.far_done is not None and self.far_idle(work, updates):
            await self.release_far()
        await self.set_flags(work, updates)
        for side in Side:
            await self.trash(work, side)
        if self.dry:
            for side in Side:
                self.plan_copies(self.take(reconcile.plan_copies(work, side)))
            for side in Side:
                self.plan_expunge(work, side)
            return self.result()
        # mbsync journals its driver's UIDNEXT; for a Maildir box that is
        # the highest UID assigned so far (journal_uid_next), not plus one.
        uid_next = {
            side: getattr(self.boxes[side], "journal_uid_next", self.boxes[side].uid_next)
            for side in Side
        }
        # The planner lets go of the listings once the copies are planned,
        # before it makes their TUIDs (forget_undeleted).
        started = reconcile.start_copies(work, uid_next)
        copies = self.take(started)
        del started
        # The TUIDs must be durable before any copy exists.
        self.statefile.sync()
        for side in Side:
            # The copy run consumes its list: each copy is let go once done.
            await self.copy(work, side, copies.pop(side))
        expunged = []
        for side in Side:
            if self.options.expunges(side):
                doomed = reconcile.expunge_uids(work, side)
                self.progress.add(side, "expunge", total=len(doomed))
                if side is Side.FAR and self.far_released:
                    # far_idle found nothing to expunge, and nothing has
                    # changed the far box since.
                    assert not doomed
                    removed = []
                else:
                    removed = await self.boxes[side].expunge(doomed)
                self.counts["expunge"][side] += len(removed)
                self.counts["flagged"][side] += len(doomed)
                self.progress.add(side, "expunge", done=len(doomed))
                expunged.append(side)
        if self.far_done is not None:
            # Nothing after this asks the far store anything (the
            # commit, the sidecar and the saved listings are local).
            await self.release_far()
        finished = reconcile.finish(work, expunged)
        if self.options.isync15:
            # isync 1.5 journals none of the end's operations (the max
            # UIDs, the purge: box_closed_p2's pre-commit lines). They are
            # in the state in memory, and reach the file only with a commit
            # something else made necessary (a line journaled by this run,
            # or a replay); else the file stays as it was, and the next run
            # decides them again. Only new max UIDs may stay unwritten in a
            # fixed point: they decide nothing (see _unmarked), and a
            # partial run finds them again (topping); a purge would.
            if not self.statefile.dirty and any(
                not isinstance(operation, SetMaxUid) for operation in finished.journal
            ):
                self.settled = False
            finished = reconcile.Step((), finished.notices, finished.actions)
        self.take(finished)
        self.statefile.commit()
        # The sidecar first: a box saving its listing may save what its
        # fingerprint for the sidecar saw.
        self.remember()
        for box in self.boxes.values():
            if IListingCache.providedBy(box):
                box.save_listing()
        return self.result()

    def far_idle(self, work: PairWork, updates: list[FlagUpdate]) -> bool:
        """
        Right after the reconciliation: whether nothing more of this run
        will ask the far store anything. Only in a partial run (no journal
        replayed, no copy left to find by TUID) whose far box gets no flag
        update, with no copy either way (nothing new, no placeholder
        upgraded), no Trash, and no far message to expunge (a far box
        expunging by UID then sends nothing; not with ExpungeSolo).
        """
        options = self.options
        if self.changes is None or self.dry or self.one_at_a_time:
            return False
        if any(update.side is Side.FAR for update in updates):
            return False
        if work.any_new[Side.FAR] or work.any_new[Side.NEAR] or work.find_new[Side.FAR]:
            return False
        if any(
            side.trash is not None or side.trash_remote_new for side in (options.far, options.near)
        ):
            return False
        if options.expunges(Side.FAR):
            if options.far.expunge_solo:
                return False
            if not getattr(self.boxes[Side.FAR], "expunges_by_uid", False):
                return False
            if reconcile.expunge_uids(work, Side.FAR):
                return False
        return True

    async def release_far(self) -> None:
        """
        Nothing more goes to the far store in this run: close its box (an
        IMAP box sends nothing) and call C{far_done}, once.
        """
        done, self.far_done = self.far_done, None
        assert done is not None
        await self.boxes[Side.FAR].close()
        self.far_released = True
        # What C{far_done} sent (the next pair's SELECT) leaves only when
        # the reactor next writes: wait for that turn, or the commands
        # would sit in the buffer through this pair's renames and commit.
        sent = done()
        if sent is not None:
            await sent

    # A partial run: the far box changed, the near box and the state did not
    # since a sync that left a fixed point (its sidecar says so), so a full
    # run would do something only for the records of far messages that
    # changed or vanished, and for new far messages. Only those records are
    # parsed and planned, only those messages loaded; the state file keeps
    # every other line as it was (StateFile.select), so the run leaves the
    # very bytes a full run leaves.

    async def select_records(self) -> bool:
        """
        Select the records the far box's changes touch.

        @return: C{False} when a partial run cannot go on (the far box
            cannot say what changed, a UIDVALIDITY differs, the near box
            is not as its names were): then the state is loaded whole and
            the run is a full one.
        """
        far, near = self.boxes[Side.FAR], self.boxes[Side.NEAR]
        state = self.statefile.state
        if (
            not IListingChanges.providedBy(far)
            or state.far_uid_validity != far.uid_validity
            or state.near_uid_validity != near.uid_validity
        ):
            return False
        if self.options.isync15 and (
            # isync 1.5's max UIDs follow a full listing (topping): the
            # near box must list every UID it holds; no expired messages
            # below MaxExpiredFarUid that the topping skips over, and no
            # placeholder that decides whether Upgrade is masked.
            not hasattr(near, "held_uids")
            or state.max_expired_far_uid
            or self.statefile.records_marked()
        ):
            return False
        # One listing of the near names, checked: every file numbered once,
        # and the very names the last sync left (not those of a change made
        # since the quick check looked). When the quick check saw the box
        # with a hint (modification times old enough to trust) and the box
        # still has those times, the listing saw the names it vouched for
        # (and the names saved with that fingerprint, if any, are read
        # instead of listing); else their fingerprint must be the one the
        # last sync left.
        known, _, hint = (self.near_known or b"").partition(b";")
        stamps_unchanged = getattr(near, "stamps_unchanged", None)
        use_saved_names = getattr(near, "use_saved_names", None)
        adopted = False
        if hint and stamps_unchanged is not None and use_saved_names is not None:
            # The times vouch that the names are still those of the known
            # fingerprint: the names saved with it (if they digest to it)
            # stand for a listing.
            adopted = stamps_unchanged(hint) and use_saved_names(known)
        await near.load(LoadRequest(min_uid=1, max_uid=0))
        if not getattr(near, "unlisted", False) or not IFingerprinted.providedBy(near):
            return False
        if not (hint and stamps_unchanged is not None and stamps_unchanged(hint)):
            if adopted:
                # Changed since the times were checked: the saved names
                # may no longer be the box's.
                return False
            seen = IFingerprinted(near).fingerprint()
            if seen is None or seen != known:
                return False
        changes = await IListingChanges(far).changes_since_listing()
        if changes is None:
            return False
        if self.options.isync15:
            # Every UID each box holds (the far box's listing brought up to
            # date, the near box's names), and every record line's UIDs.
            self.held = {
                Side.FAR: changes.listed,
                Side.NEAR: near.held_uids(),  # type: ignore[attr-defined]
            }
            self.paired = {
                Side.FAR: self.statefile.record_far_uids(),
                Side.NEAR: self.statefile.record_near_uids(),
            }
            if self.unknown_old():
                return False
        self.statefile.select(changes.touched(self.statefile.record_far_uids()))
        self.changes = changes
        return True

    def unknown_old(self) -> bool:
        """
        isync 1.5: whether a side whose old messages C{Sync Old} propagates
        holds one no record knows, at or below its max UID. A full run
        would journal it (propagated, or made and killed at once when it
        would be expunged), whether it changed or not: so a full run.
        Without MaxMessages, Trash or MaxSize, after a fixed point, only
        such doomed messages are left unknown there.
        """
        state = self.statefile.state
        for side in Side:
            if not self.options.side(side.other).ops & SyncOp.OLD:
                continue
            held = self.held[side]
            old = held[: bisect_right(held, state.max_uid(side))]
            if not set(old).issubset(self.paired[side]):
                return True
        return False

    def topping(self, work: PairWork) -> dict[Side, int]:
        """
        isync 1.5, in a partial run: the max UIDs a full run's listings
        would raise (L{reconcile.topping_raise}), from every UID each box
        holds and every record line's UIDs (L{select_records}).
        """
        held, paired = self.held, self.paired
        raises = {}
        for side in Side:
            floor = work.load_floor[side]
            raises[side] = (
                0 if floor is None else reconcile.topping_raise(held[side], paired[side], floor)
            )
        return raises

    def partial_requests(
        self, requests: dict[Side, LoadRequest], changes: ListingChanges
    ) -> dict[Side, LoadRequest]:
        """
        The planner's requests cut to the messages a partial run needs:
        the far messages that changed (new ones included), the near
        messages of the selected records; each as a list of UIDs.
        """
        far, near = requests[Side.FAR], requests[Side.NEAR]
        far_uids = frozenset(uid for uid in changes.changed if far.selects(uid))
        near_uids = frozenset(
            record.near_uid
            for record in self.statefile.state
            if record.near_uid and near.selects(record.near_uid)
        )
        return {
            Side.FAR: replace(far, min_uid=1, max_uid=0, uids=far_uids),
            Side.NEAR: replace(near, min_uid=1, max_uid=0, uids=near_uids),
        }

    async def set_flags(self, work: PairWork, updates: list[FlagUpdate]) -> None:
        for side in Side:
            mine = [update for update in updates if update.side is side]
            if not mine:
                continue
            if self.dry:
                # Only in memory: later decisions (trash) see the new flags.
                self.planned.extend(update.describe() for update in mine)
                self.progress.add(side, "flags", total=len(mine))
                self.take(reconcile.flags_applied(work, mine))
                continue
            self.progress.add(side, "flags", total=len(mine))
            await self.boxes[side].set_flags([update.change() for update in mine])
            self.take(reconcile.flags_applied(work, mine))
            self.counts["flags"][side] += len(mine)
            self.progress.add(side, "flags", done=len(mine))

    async def trash(self, work: PairWork, side: Side) -> None:
        plan = self.take(reconcile.plan_trash(work, side))
        if not plan:
            return
        if self.dry:
            self.planned.extend(item.describe() for item in plan)
            self.progress.add(side, "trash", total=len(plan))
            return
        self.progress.add(side, "trash", total=len(plan))
        local = [item for item in plan if not item.remote]
        if local:
            done = await self.boxes[side].trash([item.uid for item in local], local[0].box)
            self.take(reconcile.trashed(work, side, done))
            self.counts["trash"][side] += len(done)
            self.progress.add(side, "trash", done=len(local))
        for item in plan:
            if item.remote:
                await self.trash_remotely(item)
                self.take(reconcile.trashed(work, side, [item.uid]))
                self.counts["trash"][side] += 1
                self.progress.add(side, "trash", done=1)

    async def trash_remotely(self, item: TrashMessage) -> None:
        """
        C{TrashRemoteNew}: copy a deleted message into the other store's
        Trash; a message that is gone or broken is given up (mbsync).
        """
        source, target = item.side, item.side.other
        try:
            body = await self.boxes[source].fetch(item.uid)
            conversion = Conversion(
                self.stores[source].line_ending, self.stores[target].line_ending
            )
            message = await convert_body(body, conversion)
            flags = item.flags & self.boxes[target].permanent_flags
            await self.stores[target].append(item.box, message, flags)
        except MessageError:
            log.failure("remote trashing of {side} UID {uid} failed", side=source, uid=item.uid)

    def plan_copies(self, copies: CopyPlan) -> None:
        self.planned.extend(copy.describe() for copy in copies)
        # Counted as to do (isync 1.5's dry run counts what it would do).
        for copy in copies:
            self.progress.add(copy.target, "new", total=1)

    def plan_expunge(self, work: PairWork, side: Side) -> None:
        if self.options.expunges(side):
            uids = reconcile.expunge_uids(work, side)
            self.counts["flagged"][side] += len(uids)
            self.progress.add(side, "expunge", total=len(uids))
            if uids:
                listed = ",".join(str(uid) for uid in uids)
                self.planned.append(f"{side.label} side: expunge UIDs {listed}")

    async def copy(self, work: PairWork, target: Side, copies: CopyPlan) -> None:
        """
        Copy C{copies} to C{target} (L{msync.sync.copyrun}), then look for
        the copies whose UIDs the store could not tell.
        """
        if copies:
            self.progress.add(target, "new", total=len(copies))
        # A target that batches its stores (IMAP MULTIAPPEND, Maildir
        # batches) says how many copies it can use under way; fetches keep
        # FETCH_AHEAD ahead of them.
        in_flight = (
            1
            if self.one_at_a_time
            else getattr(self.boxes[target], "copies_in_flight", COPIES_IN_FLIGHT)
        )
        await copy_all(self, work, target, copies, in_flight)
        tuids = reconcile.tuids_to_find(work, target)
        if tuids:
            self.settled = False
            found = await self.boxes[target].find_by_tuid(
                list(tuids), self.statefile.state.find_uid[target]
            )
            self.take(reconcile.found(work, target, found))


def _maxed(work: PairWork) -> bool:
    """
    mbsync 1.4: whether no side's max UID is left below a UID paired on it
    where the next run loads that side's new messages (it would raise the
    max, journaled).
    """
    options, state = work.options, work.state
    return not any(
        options.side(side.other).ops & SyncOp.NEW and state.highest_uid(side) > state.max_uid(side)
        for side in Side
    )


def _unmarked(work: PairWork) -> bool:
    """
    isync 1.5: whether no live record is a placeholder or a legacy skipped
    one, so that a pair skipped as unchanged masks C{Upgrade} towards
    every side that wants it (see the runner). A max UID below a UID
    paired on its side is no obstacle: isync 1.5 raises it unjournaled,
    by paired messages that come before every unknown one, so the raise
    decides nothing in the run that makes it.
    """
    return not placeholder_sides(live(work))


def _partial_options(options: PairOptions) -> bool:
    """
    Whether the options allow a partial run: none of the work that spans
    the whole box (MaxMessages expiry, Trash, MaxSize placeholders). For
    isync 1.5, the max UIDs, which follow the paired messages of a whole
    listing up to the first unknown one, are found from the whole boxes'
    UIDs (L{_BoxPairSync.topping}), and C{Sync Old} with unknown old
    messages means a full run (L{_BoxPairSync.unknown_old}).
    """
    return options.max_messages == 0 and all(
        side.trash is None and not side.trash_remote_new and side.max_size is None
        for side in (options.far, options.near)
    )


async def sync_pair(
    far: IStore,
    near: IStore,
    far_box: BoxName,
    near_box: BoxName,
    options: PairOptions,
    state_paths: StatePaths,
    *,
    progress: PairProgress | None = None,
    notify: Callable[[Severity, str], None] | None = None,
    fsync: bool = True,
    state_system: SystemCalls | None = None,
    new_tuid: Callable[[], str] = random_tuid,
    journal_version: str = JOURNAL_VERSION,
    journal_testing: JournalTesting = NO_TESTING,
    quick: bool = False,
    found_changed: bool = False,
    far_done: Callable[[], Deferred[None] | None] | None = None,
) -> PairResult:
    """
    Synchronize one mailbox pair as mbsync 1.4 does.

    @param far: the far store (connected).
    @param near: the near store.
    @param far_box: the far box's canonical name.
    @param near_box: the near box's canonical name.
    @param options: what to do.
    @param state_paths: where the pair's state lives.
    @param progress: counters to update; a fresh one if C{None}.
    @param notify: receives mbsync's info, notice and warning lines
        (without a trailing newline); they are logged if C{None}.
    @param fsync: mbsync's C{FSync}.
    @param state_system: the system calls of the state file (tests).
    @param new_tuid: the TUID generator (tests).
    @param journal_version: the journal version written (C{4} as mbsync
        1.4, C{5} as 1.5).
    @param journal_testing: mbsync's C{-Tj} test switches.
    @param quick: a pair exactly as the last sync left it (its sidecar
        says so, L{msync.sync.quickcheck}) is done without opening its
        boxes; only when nothing but the result counts (not with C{-V},
        whose per-box lines a skipped pair cannot print). With a sidecar,
        a pair whose near box and state are as it left them gets the
        partial run (only the records the far box's changes touch).
    @param found_changed: the caller's own quick check
        (L{quickcheck.skip_unchanged}) already found the pair changed:
        only the partial run's condition is checked.
    @param far_done: called once the run asks the far store nothing more
        (its box closed), before the commit; not in a dry run.
    @return: what was done, or planned in a dry run.
    @raise MailboxError: the pair cannot be synchronized (mbsync's box
        errors, with its wording minus C{Error: }).
    @raise StoreUnavailable: a store failed; skip every pair using it.
    @raise StateError: the state is locked (L{ChannelLocked}) or broken.
    """
    label = f":{far.name}:{far_box}-:{near.name}:{near_box}"
    partial = False
    identity = near_known = None
    if quick and not options.dry_run and os.path.exists(quickcheck.sidecar_path(state_paths)):
        with held_lock(state_paths, label):
            if not found_changed and await quickcheck.unchanged(
                (far, near), (far_box, near_box), options, state_paths
            ):
                return PairResult(far_box=far_box, near_box=near_box, unchanged=True)
            identity = quickcheck.state_identity(state_paths)
            if (
                _partial_options(options)
                and not journal_testing.steps_left
                and IUnlistedOpen.providedBy(near)
            ):
                near_known = await quickcheck.near_unchanged(near, near_box, options, state_paths)
                partial = near_known is not None
    statefile = StateFile.open(
        state_paths,
        fsync=fsync,
        channel_label=label,
        system=state_system,
        read_only=options.dry_run,
        journal_version=journal_version,
        testing=journal_testing,
        expire_side=options.expire_side,
        partial=partial,
    )
    if statefile.partial and quickcheck.state_identity(state_paths) != identity:
        # Rewritten since it was vouched for (another run in between).
        statefile.load_all()
    run = _BoxPairSync(
        {Side.FAR: far, Side.NEAR: near},
        {Side.FAR: far_box, Side.NEAR: near_box},
        options,
        statefile,
        progress if progress is not None else PairProgress(),
        notify if notify is not None else _notify_log,
        new_tuid,
        # mbsync's -Tj<N> stops at a journal step: copies are then made one
        # at a time, as mbsync makes them, so that the step names the same
        # state (no later copy's UID recorded yet).
        one_at_a_time=bool(journal_testing.steps_left),
    )
    run.near_known = near_known
    run.far_done = far_done
    try:
        try:
            result = await run.run()
        except BaseException:
            await run.close_boxes(quietly=True)
            raise
        await run.close_boxes(quietly=False)
        return result
    finally:
        statefile.close()
