"""
A driver for the planner's step functions (L{msync.sync.reconcile}) with no
engine and no store: a row gives the pair's state, the two box listings and
the options; L{run_plan} feeds them to the steps, plays a store that does
everything asked of it (copies get the target's next UIDs), and records
every journal line, store action and notice, and the state a commit would
write.

Rows use the language of L{tests.sync.scenarios}: messages are
C{(uid, "FS", "name")}, states are mbsync state files built by
L{tests.sync.scenarios.state}.

Invariants: pure (no files, no reactor); TUIDs are C{TUID00000001},
C{TUID00000002}, ... in the order they are assigned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import MailboxError
from msync.model import ALL_FLAGS, Flags, MessageInfo, Side
from msync.sync import reconcile
from msync.sync.journal import format_journal_line, parse_journal, replay
from msync.sync.notices import Notice
from msync.sync.options import PairOptions
from msync.sync.pairwork import PairWork, forget_undeleted
from msync.sync.reconcile import Step
from msync.sync.state import SyncState
from msync.sync.statetext import format_state, parse_state
from tests.sync.scenarios import BOX, Message, options

T = TypeVar("T")

#: The size of a message named in L{PlanRow.big}, and of the others.
BIG_SIZE = 5000
SMALL_SIZE = 100


@dataclass(frozen=True)
class PlanRow:
    """
    One row of a planner table.

    @ivar name: what the row shows (unique in its table).
    @ivar far: the far box (every message in it; the planner sees those
        its load request selects).
    @ivar near: the near box.
    @ivar before: the state file, or C{None} for a new pair.
    @ivar replay: journal lines of an interrupted run, replayed onto
        C{before} (with C{<state>.new} present, so they count).
    @ivar far_tuids: the C{X-TUID} header of far messages, by UID (copies
        an interrupted run made).
    @ivar near_tuids: the same for near messages.
    @ivar options: what to do.
    @ivar big: names of messages of L{BIG_SIZE} bytes (others have
        L{SMALL_SIZE}).
    @ivar journal: the journal lines the planner decides, in order.
    @ivar actions: the store actions, as C{--dry-run} describes them, in
        the order the engine carries them out.
    @ivar notices: the notices, in order.
    @ivar after: the state file a commit writes (or, with C{error}, the
        state as the planner left it: nothing is committed).
    @ivar error: the L{MailboxError} the planner gives up with, if any.
    @ivar permanent: the flags each box can keep (far, near).
    @ivar far_imap: the far box is an IMAP box, whose mbsync driver loads
        only what the options ask for (L{PairWork.driver_widens}), where
        its Maildir driver (every row's otherwise) loads the old messages
        to set flags and every message to expunge.
    @ivar mbsync: whether mbsync 1.4.4 was checked to agree, on Maildir
        trees made from the row (L{tests.integration.test_reconcile_mbsync}):
        it writes the same state, journals the same lines (TUIDs aside;
        in its own order, see L{PlanRow.same_order}) and prints the same
        notices.
    @ivar same_order: mbsync also journals the lines in the same order
        (it does not where copies are made: it assigns each TUID just
        before its copy, msync all of them before the first copy).
    """

    name: str
    far: Sequence[Message] = ()
    near: Sequence[Message] = ()
    before: str | None = None
    replay: Sequence[str] = ()
    far_tuids: Mapping[int, str] = field(default_factory=dict)
    near_tuids: Mapping[int, str] = field(default_factory=dict)
    options: PairOptions = field(default_factory=lambda: options())
    big: Sequence[str] = ()
    journal: Sequence[str] = ()
    actions: Sequence[str] = ()
    notices: Sequence[Notice] = ()
    after: str = ""
    error: str | None = None
    permanent: tuple[Flags, Flags] = (ALL_FLAGS, ALL_FLAGS)
    far_imap: bool = False
    mbsync: bool = False
    same_order: bool = True

    def tuids(self, side: Side) -> Mapping[int, str]:
        """
        The C{X-TUID} headers of C{side}'s messages, by UID.
        """
        return self.far_tuids if side is Side.FAR else self.near_tuids


@dataclass
class PlanResult:
    """
    What the planner decided for one row.
    """

    journal: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    after: str = ""
    error: str | None = None


def uid_next(row: PlanRow, state: SyncState, side: Side) -> int:
    """
    The UIDNEXT of a row's box: above every UID it or the state names.
    """
    box = row.far if side is Side.FAR else row.near
    uids = [uid for uid, _, _ in box]
    uids.extend(record.uid(side) for record in state.records)
    uids.append(state.max_uid(side))
    return max(uids, default=0) + 1


def initial_state(row: PlanRow) -> SyncState:
    """
    A row's state: C{before} with C{replay} replayed onto it.
    """
    isync15 = row.options.isync15
    state = SyncState() if row.before is None else parse_state(row.before, "state", isync15=isync15)
    state.expire_side = row.options.expire_side
    if row.replay:
        journal = "".join(line + "\n" for line in ["4", *row.replay])
        replay(state, parse_journal(journal, "journal"))
    return state


def _tuids() -> Callable[[], str]:
    count = 0

    def new_tuid() -> str:
        nonlocal count
        count += 1
        return f"TUID{count:08d}"

    return new_tuid


def run_plan(row: PlanRow) -> PlanResult:
    """
    Feed a row to the planner's steps as the engine would, with stores
    that do everything asked.
    """
    state = initial_state(row)
    next_uid = {side: uid_next(row, state, side) for side in Side}
    work = PairWork(
        state,
        row.options,
        existed=row.before is not None,
        replayed=bool(row.replay),
        boxes={Side.FAR: BOX, Side.NEAR: BOX},
        uid_validity={Side.FAR: 1, Side.NEAR: 1},
        new_tuid=_tuids(),
        driver_widens={Side.FAR: not row.far_imap, Side.NEAR: True},
    )
    result = PlanResult()

    def take(step: Step[T]) -> T:
        result.journal.extend(format_journal_line(op).decode().rstrip("\n") for op in step.journal)
        result.notices.extend(step.notices)
        return step.actions

    requests = take(reconcile.plan_loads(work))
    listings = {}
    for side, box in ((Side.FAR, row.far), (Side.NEAR, row.near)):
        request = requests[side]
        tuids = row.tuids(side)
        listings[side] = [
            MessageInfo(
                uid,
                Flags.from_letters(letters),
                size=(BIG_SIZE if name in row.big else SMALL_SIZE)
                if request.wants_size(uid)
                else None,
                message_id=f"<{name}@test>" if request.wants_message_id(uid) else None,
                tuid=tuids.get(uid) if request.wants_tuid(uid) else None,
            )
            for uid, letters, name in box
            if request.selects(uid)
        ]
    permanent = {Side.FAR: row.permanent[0], Side.NEAR: row.permanent[1]}
    try:
        updates = take(reconcile.reconcile(work, listings, permanent))
    except MailboxError as error:
        # The engine journals what was decided before (Step's invariant).
        result.journal.extend(format_journal_line(op).decode().rstrip("\n") for op in work.journal)
        result.notices.extend(work.notices)
        result.error = str(error)
        result.after = format_state(state).decode()
        return result
    for side in Side:
        mine = [update for update in updates if update.side is side]
        result.actions.extend(update.describe() for update in mine)
        if mine:
            take(reconcile.flags_applied(work, mine))
    for side in Side:
        trash = take(reconcile.plan_trash(work, side))
        result.actions.extend(item.describe() for item in trash)
        if trash:
            uids = [item.uid for item in trash]
            take(reconcile.trashed(work, side, uids))
    copies = take(reconcile.start_copies(work, next_uid))
    # As the engine does: the undeleted messages are forgotten once the
    # copies are planned (every row checks that nothing after reads them).
    forget_undeleted(work)
    for side in Side:
        for copy in copies[side]:
            result.actions.append(copy.describe())
            take(reconcile.copied(work, copy, next_uid[side]))
            next_uid[side] += 1
    expunged = []
    for side in Side:
        if row.options.expunges(side):
            uids = reconcile.expunge_uids(work, side)
            if uids:
                listed = ",".join(str(uid) for uid in uids)
                result.actions.append(f"{side.label} side: expunge UIDs {listed}")
            expunged.append(side)
    finished = reconcile.finish(work, expunged)
    if row.options.isync15:
        # isync 1.5 journals none of the end's operations (the engine
        # neither), and a run that journaled nothing leaves the state file
        # as it was.
        journaled = bool(result.journal or row.replay)
        take(Step((), finished.notices, None))
        if not journaled:
            result.after = format_state(initial_state(row)).decode()
            return result
    else:
        take(finished)
    result.after = format_state(state).decode()
    return result


def check_row(case: SynchronousTestCase, row: PlanRow) -> None:
    """
    Run the planner on C{row} and check every outcome the row names: its
    journal lines, store actions, notices, error and final state.
    """
    got = run_plan(row)
    case.assertEqual(got.journal, list(row.journal), "journal")
    case.assertEqual(got.actions, list(row.actions), "actions")
    case.assertEqual(got.notices, list(row.notices), "notices")
    case.assertEqual(got.error, row.error, "error")
    case.assertEqual(got.after, row.after, "state")
