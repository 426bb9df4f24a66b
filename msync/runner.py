# -*- test-case-name: tests.test_runner -*-
"""
From a parsed configuration and the selected channels to stores, box pairs
and the synchronizer, with mbsync's per-channel and per-box error isolation.

Invariants:
  - this is the only module that names concrete stores;
  - a store is opened once per run and reused by every channel that uses it
    (with C{--parallel N}, lanes 2 to N of a channel make stores of their
    own, closed with the channel: at most N connections per server);
  - with C{--parallel}, pairs sharing a state file never run at once, and
    what each pair says reaches the output in the order of the pairs;
    a store that failed to open makes later channels using it print mbsync's
    C{Skipping due to failed ... store} and count as failed;
  - one failing box pair fails that pair (exit status 1), never the run:
    the broad exception handler here is the only one in msync (STYLE §5).
"""

from __future__ import annotations

import enum
import functools
import operator
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import field, fields, replace
from typing import Any, Protocol

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from msync.compat import Generation
from msync.config.schema import (
    Channel,
    Config,
    IMAPStore,
    MaildirStore,
    Store,
    SubFolders,
    SyncStateKind,
)
from msync.errors import (
    LayoutError,
    MsyncError,
    StateError,
    StoreError,
    StoreUnavailable,
    shown_name,
)
from msync.model import INBOX, Side
from msync.plan import (
    BoxPair,
    ChannelJob,
    ListScope,
    OperationOverrides,
    box_pairs,
    list_lines,
    list_scope,
)
from msync.reactor import MailReactor
from msync.records import mutable_record, record
from msync.report import (
    Counters,
    RunSummary,
    Severity,
    SideCounters,
    ext_exit_bits,
    note_channel,
    planned_sentence,
    summary_text,
)
from msync.stores.imapnames import MBSYNC14_NAMES, NameMapping, names_for
from msync.stores.imapstore import IMAPStore as IMAPStoreImpl
from msync.stores.interface import IBoxFingerprints, IStore
from msync.stores.maildirstore import MaildirStore as MaildirStoreImpl
from msync.sync.options import PairOptions
from msync.sync.quickcheck import saved_far, sidecar_path, skip_unchanged
from msync.sync.results import PairProgress, PairResult
from msync.sync.statelock import NO_TESTING, JournalTesting
from msync.sync.statepaths import StatePaths, listing_cache_path, state_paths

log = Logger()


class Emitter(Protocol):
    """
    Where user-visible messages go (the CLI's output object).
    """

    def emit(self, severity: Severity, text: str) -> None:
        """
        Show one message of the given class.
        """

    def print_line(self, text: str) -> None:
        """
        Print a line of results on standard output whatever C{-q} says
        (mbsync prints C{-l} listings with plain C{printf}).
        """

    def show_progress(self, counters: Counters) -> None:
        """
        Redraw the progress line (a no-op when progress is not shown).
        """

    def event(self, kind: str, **fields: object) -> None:
        """
        Report a step of the run for C{--json} (a no-op otherwise); see
        C{docs/json.md} for the kinds and their fields.
        """


StoreFactory = Callable[[Store], IStore]
"""Makes the store object for a store section (tests pass in-memory ones)."""


def default_store_factory(
    config: Config,
    reactor: MailReactor,
    names: NameMapping = MBSYNC14_NAMES,
    *,
    maildir_async: bool = False,
    maildir_mtime_wait: bool = True,
    trace: bool = True,
    isync15: bool = False,
) -> StoreFactory:
    """
    The factory used by the C{msync} command: Maildir stores on disk, IMAP
    stores over one connection each.

    @param config: the whole configuration (global options).
    @param reactor: the reactor: Maildir stores take its time, IMAP
        stores also connect and run commands with it.
    @param names: how IMAP stores map box names (mbsync 1.4's or 1.5's).
    @param trace: whether IMAP stores log their wire trace (C{-Dn}).
    @param maildir_async: mbsync's C{-Ta}: Maildir stores answer later.
    @param maildir_mtime_wait: C{False} for mbsync's C{-Tz}.
    @param isync15: Maildir stores word their notices as isync 1.5.
    @return: the factory.
    """

    def make(store: Store) -> IStore:
        if isinstance(store, MaildirStore):
            # mbsync 1.4 refuses a Maildir store whose Path does not exist.
            if store.path is not None and not os.path.exists(store.path):
                # mbsync's words, then what to do about it.
                raise StoreUnavailable(
                    f"Maildir error: cannot open store '{store.path}'\n"
                    f"Hint: MaildirStore {store.name}'s Path does not exist; "
                    f"create it with: mkdir -p {_quoted(store.path)}",
                    store=store.name,
                )
            return MaildirStoreImpl(
                store,
                fsync=config.global_options.fsync,
                clock=IReactorTime(reactor),
                asynchronous=maildir_async,
                mtime_wait=maildir_mtime_wait,
                isync15=isync15,
            )
        assert isinstance(store, IMAPStore)
        # The IMAP store connects with the reactor, starting now as mbsync
        # does (its -V connection lines come before the other store opens).
        imap = IMAPStoreImpl(store, reactor=reactor, trace=trace, names=names)
        imap.start_connecting()
        return imap

    return make


def inbox_in_path(store: Store) -> bool:
    """
    Whether a store's INBOX lives inside its Path hierarchy, so that a
    C{*} pattern reaches it (mbsync's C{LIST_PATH_MAYBE} rule, checked
    against mbsync 1.4.4 C{-l}).

    @param store: the store section.
    @return: the answer.
    """
    if isinstance(store, MaildirStore):
        if store.subfolders is SubFolders.MAILDIRPP:
            # Maildir++ folders live inside INBOX itself (checked with mbsync).
            return True
        if store.path is None:
            return False
        return (store.inbox.rstrip("/") + "/").startswith(store.path)
    # IMAP: INBOX is listed along with the prefix's hierarchy when there is
    # no prefix or the prefix lies under INBOX (mbsync imap_list_store). A
    # prefix learnt from NAMESPACE is not known here; servers use "" or
    # "INBOX." there.
    path = store.path or ""
    return not path or (path[:5].upper() == INBOX and not path[5:6].isalnum())


@mutable_record
class RunState:
    """
    Stores opened during one run, and the ones that failed.

    @ivar factory: makes store objects.
    @ivar stores: open stores by section name.
    @ivar failed: names of stores that could not be used.
    @ivar temporary: those of them that failed for a network reason.
    @ivar names: how IMAP stores spell box names (for alias detection).
    @ivar summary: what isync 1.5's closing summary counts.
    @ivar upgrade_masked: by channel, the sides whose C{Upgrade} an isync
        1.5 pair masked (L{msync.sync.reconcile.plan_loads}): 1.5 masks it
        in the channel, for the rest of the run.
    """

    factory: StoreFactory
    stores: dict[str, IStore] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    temporary: set[str] = field(default_factory=set)
    names: NameMapping = MBSYNC14_NAMES
    summary: RunSummary = field(default_factory=RunSummary)
    upgrade_masked: dict[str, frozenset[Side]] = field(default_factory=dict)

    def store(self, section: Store) -> IStore:
        """
        The store object for a section, made on first use.

        @raise StoreUnavailable: when it cannot be made.
        """
        if section.name in self.failed:
            raise StoreUnavailable(section.name, store=section.name)
        if section.name not in self.stores:
            try:
                self.stores[section.name] = self.factory(section)
            except StoreUnavailable:
                self.failed.add(section.name)
                raise
        return self.stores[section.name]

    async def close(self) -> None:
        """
        Close every store opened during the run.
        """
        for store in self.stores.values():
            await store.close()
        self.stores.clear()


async def _listing(run: RunState, channel: Channel, side: Side) -> list[str]:
    """
    The boxes of one side of a Patterns channel that its patterns may see.
    """
    section = channel.store(side)
    boxes = list(await run.store(section).list_boxes())
    scope = list_scope(channel, side)
    inbox_reachable = ListScope.INBOX in scope or (
        bool(scope & (ListScope.PATH | ListScope.PATH_MAYBE)) and inbox_in_path(section)
    )
    if not inbox_reachable:
        boxes = [b for b in boxes if b != INBOX and not b.startswith(INBOX + "/")]
    return boxes


async def channel_pairs(run: RunState, job: ChannelJob) -> tuple[BoxPair, ...]:
    """
    The box pairs of one job: listing both stores when Patterns must be
    expanded.

    @raise StoreError: when a store cannot be opened or listed.
    """
    channel = job.channel
    if not channel.patterns or job.boxes is not None:
        return box_pairs(job)
    far = await _listing(run, channel, Side.FAR)
    near = await _listing(run, channel, Side.NEAR)
    return box_pairs(job, far, near, run.names)


def _error_line(error: MsyncError) -> str:
    """
    mbsync's line for an error that skips a box or a channel: a driver's
    own message (C{Maildir error: ...}) stands alone, as mbsync prints it;
    the others get the error's label (C{Error: }).
    """
    text = str(error)
    if text.startswith("Maildir error: "):
        return text
    return f"{error.label}{text}"


def _store_failed(
    run: RunState, channel: Channel, output: Emitter, error: StoreUnavailable
) -> None:
    """
    A store of C{channel} became unusable: report it once, and mark the
    store (the one the error names, else both) so later channels using it
    are skipped with mbsync's message.
    """
    output.emit(Severity.ERROR, str(error))
    names = {channel.store(side).name for side in (Side.FAR, Side.NEAR)}
    named = {name for name in names if error.store == name}
    run.failed.update(named or names)
    if error.temporary:
        run.temporary.update(named or names)


def _failed_store_message(channel: Channel, run: RunState) -> str | None:
    """
    mbsync's message for a channel whose store already failed.
    """
    for side in (Side.FAR, Side.NEAR):
        section = channel.store(side)
        if section.name in run.failed:
            how = "temporarily failed" if section.name in run.temporary else "failed"
            return f"Skipping due to {how} {side.label} side store {section.name}."
    return None


def open_stores(run: RunState, channel: Channel, output: Emitter, *, listing: bool = True) -> bool:
    """
    Make both stores of a channel, reporting failures as mbsync 1.4 does:
    C{-l} tries both sides before giving up on the channel, a sync stops at
    the first side that fails (after C{-V}'s C{Opening ... store} line).

    @return: whether both stores are usable.
    """
    usable = True
    for side in (Side.FAR, Side.NEAR):
        section = channel.store(side)
        output.emit(Severity.INFO, f"Opening {side.label} side store {section.name}...")
        try:
            run.store(section)
        except StoreUnavailable as error:
            output.emit(Severity.ERROR, str(error))
            usable = False
            if not listing:
                break
    return usable


async def list_channels(
    jobs: Sequence[ChannelJob],
    factory: StoreFactory,
    output: Emitter,
    names: NameMapping = MBSYNC14_NAMES,
) -> int:
    """
    C{msync -l}: print the boxes each selected channel would synchronize,
    as C{mbsync -l} does (a C{chan:} header before each channel when more
    than one is listed).

    @param jobs: the selected channels.
    @param factory: makes the stores.
    @param output: where lines and errors go.
    @param names: how IMAP stores spell box names.
    @return: the exit status.
    """
    run = RunState(factory, names=names)
    status = 0
    try:
        for job in jobs:
            output.emit(Severity.INFO, f"Channel {job.channel.name}")
            output.event("channel", channel=job.channel.name)
            skipped = _failed_store_message(job.channel, run)
            if skipped is not None:
                # mbsync 1.4.4 says this only with -V (an info message).
                output.emit(Severity.INFO, skipped)
                status = 1
                continue
            if not open_stores(run, job.channel, output):
                status = 1
                continue
            try:
                pairs = await channel_pairs(run, job)
            except StoreUnavailable as error:
                _store_failed(run, job.channel, output, error)
                status = 1
                continue
            except StoreError as error:
                output.emit(Severity.ERROR, _error_line(error))
                status = 1
                continue
            if len(jobs) > 1:
                output.print_line(f"{job.channel.name}:")
            for line in list_lines(job.channel, pairs):
                output.print_line(line)
    except MsyncError as error:  # pragma: no cover - defensive; reported, not raised
        output.emit(Severity.ERROR, f"Error: {error}")
        status = 1
    finally:
        await run.close()
    return status


@record
class SyncRequest:
    """
    What the command line asks of a synchronization run.

    @ivar overrides: C{-n -d -f -N -L -H -C -R -X} and friends.
    @ivar dry_run: C{--dry-run}: decide, print, change nothing.
    @ivar verbose: C{-V}: mbsync's info messages.
    @ivar generation: the mbsync generation followed (L{msync.compat}).
    @ivar state_directory: the default global C{SyncState} of that
        generation, used where the configuration leaves it at mbsync 1.4's
        C{~/.mbsync/}; C{None} keeps the configured one.
    @ivar summary: print isync 1.5's closing summary.
    @ivar ext_exit: isync 1.5's C{--ext-exit}: add 32 to the exit status
        when the far side was changed, 64 when the near side was.
    @ivar journal_testing: C{-Tj}, C{-Tj<N>}: mbsync's journal test switches.
    @ivar parallel: C{--parallel N} (msync's own): how many box pairs of a
        channel may sync at once, each over connections of its own.
    """

    overrides: OperationOverrides = OperationOverrides()
    dry_run: bool = False
    verbose: bool = False
    generation: Generation = Generation.V14
    state_directory: str | None = None
    summary: bool = False
    ext_exit: bool = False
    journal_testing: JournalTesting = NO_TESTING
    parallel: int = 1


class PairWatch(Protocol):
    """
    What a long-running caller (the daemon) learns of each box pair, and how
    it stops a run between pairs.
    """

    def stopping(self) -> bool:
        """
        Whether the run must stop before the next box pair.
        """

    def pair_finished(
        self, channel: Channel, pair: BoxPair, result: PairResult | None, error: Exception | None
    ) -> None:
        """
        One box pair was synchronized (C{result}) or failed (C{error}).
        """


class _Progress:
    """
    Run-wide progress counters: finished pairs' totals plus the running
    pair's, drawn through the output after every change.
    """

    def __init__(self, output: Emitter, channels: int) -> None:
        self.output = output
        self.counters = Counters(channels_total=channels)
        self.running: list[PairProgress] = []

    def pair(self) -> PairProgress:
        """
        Start counting a new pair.
        """
        current = PairProgress(lambda _: self.draw())
        self.running.append(current)
        return current

    def merged(self) -> Counters:
        """
        The counters as shown: finished work plus the running pairs'.
        """
        if not self.running:
            return self.counters
        sides = {}
        for side in (Side.FAR, Side.NEAR):
            totals = list(_fields(self.counters.side(side)))
            for running in self.running:
                for index, value in enumerate(_fields(running.counters(side))):
                    totals[index] += value
            sides[side] = SideCounters(*totals)
        return replace(self.counters, far=sides[Side.FAR], near=sides[Side.NEAR])

    def pair_done(self, pair: PairProgress | None) -> None:
        """
        Fold a running pair into the totals and count it finished
        (C{None}: a pair that failed before it was counted).
        """
        counters = self.counters
        if pair is not None and pair in self.running:
            self.running.remove(pair)
            sides = {
                side: SideCounters(
                    *(
                        a + b
                        for a, b in zip(
                            _fields(counters.side(side)), _fields(pair.counters(side)), strict=True
                        )
                    )
                )
                for side in (Side.FAR, Side.NEAR)
            }
            counters = replace(counters, far=sides[Side.FAR], near=sides[Side.NEAR])
        self.counters = replace(counters, boxes_done=counters.boxes_done + 1)
        self.draw()

    def update(self, *, channels_done: int | None = None, boxes_total: int | None = None) -> None:
        """
        Change the channel or box counters and redraw.
        """
        if channels_done is not None:
            self.counters = replace(self.counters, channels_done=channels_done)
        if boxes_total is not None:
            self.counters = replace(self.counters, boxes_total=boxes_total)
        self.draw()

    def draw(self) -> None:
        """
        Redraw the progress line.
        """
        self.output.show_progress(self.merged())


_SIDE_FIELDS = operator.attrgetter(*(each.name for each in fields(SideCounters)))


def _fields(counters: SideCounters) -> tuple[int, ...]:
    """
    The counters of one half of the progress line, in field order.
    """
    # Not dataclasses.astuple: it deep-copies, and this runs per message.
    return _SIDE_FIELDS(counters)


def _store_box_name(store: Store, box: str) -> str:
    """
    A box's name as its store spells it: mbsync names state files after it,
    so with C{Flatten .} the box C{a/b} gives C{a.b} (checked with mbsync).
    """
    if store.flatten is not None:
        return box.replace("/", store.flatten)
    return box


def state_pairing(paths: StatePaths) -> dict[Side, frozenset[int]] | None:
    """
    The UIDs, per side, that a box pair's committed sync state pairs (any
    live record naming them), for the Maildir UID trap repair.

    @return: C{None} when that cannot be known for sure: a journal is left
        to replay, or the state cannot be read or parsed (the engine then
        reports it); empty sets when there is no state yet.
    """
    if os.path.exists(paths.journal):
        return None
    try:
        with open(paths.state, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return {Side.FAR: frozenset(), Side.NEAR: frozenset()}
    except OSError:
        return None
    # Imported here: only a Maildir box with a stray UID reads the state,
    # and a no-op run never does (L{msync.sync.quickcheck}).
    from msync.sync.statetext import parse_state

    try:
        state = parse_state(data, paths.state)
    except StateError:
        return None
    return {
        side: frozenset(r.uid(side) for r in state if not r.dead and r.uid(side)) for side in Side
    }


def skipped_upgrade_mask(options: PairOptions) -> frozenset[Side]:
    """
    The sides whose C{Upgrade} a pair skipped as unchanged masks: left as
    a fixed point, it holds no placeholder (isync 1.5:
    L{msync.sync.engine._unmarked}), so isync 1.5 would mask C{Upgrade}
    towards every side that wants it, for the channel's later pairs too;
    none when following 1.4.
    """
    return options.upgrading() if options.isync15 else frozenset()


def _expect_pairing(stores: dict[Side, IStore], pair: BoxPair, paths: StatePaths) -> None:
    """
    Tell the pair's Maildir stores which UIDs the state pairs (issue 8:
    their UID trap repair must never renumber a UID a far message depends
    on; unknown counts as paired). A journal left by an earlier run is
    looked for now, before this run writes its own; the committed state
    is read only if a box has a stray UID to decide on.
    """
    replay = os.path.exists(paths.journal)

    @functools.cache
    def pairing() -> dict[Side, frozenset[int]] | None:
        return None if replay else state_pairing(paths)

    def paired(side: Side, uid: int) -> bool:
        known = pairing()
        return known is None or uid in known[side]

    for side, store in stores.items():
        if isinstance(store, MaildirStoreImpl):
            store.expect_pairing(pair.box(side), functools.partial(paired, side))


def pair_state_paths(
    config: Config,
    channel: Channel,
    pair: BoxPair,
    near: IStore,
    state_directory: str | None = None,
) -> StatePaths:
    """
    Where the sync state of one box pair lives (mbsync C{prepare_state}).

    @param state_directory: replaces the default global C{SyncState}
        (C{~/.mbsync/}) when given (mbsync 1.5's XDG location).

    @raise StateError: for C{SyncState *} on a store without box folders.
    """
    setting = channel.sync_state
    near_path = near.path_of(pair.near) if isinstance(near, MaildirStoreImpl) else None
    channel_setting: str | None = None
    global_setting: str | None = None
    if setting is None or setting.kind is SyncStateKind.GLOBAL:
        global_setting = (setting.path if setting is not None else "") or None
        home = os.path.expanduser("~")
        if state_directory is not None and global_setting in (None, home + "/.mbsync/"):
            global_setting = state_directory
    elif setting.kind is SyncStateKind.IN_BOX:
        channel_setting = "*"
    else:
        channel_setting = setting.path
    return state_paths(
        channel_setting,
        global_setting,
        channel.far.store,
        _store_box_name(channel.far_store, pair.far),
        channel.near.store,
        _store_box_name(channel.near_store, pair.near),
        near_path,
        config.global_options.field_delimiter,
        os.path.expanduser("~"),
    )


async def _sync_channel(
    config: Config,
    job: ChannelJob,
    run: RunState,
    request: SyncRequest,
    output: Emitter,
    progress: _Progress,
    watch: PairWatch | None = None,
) -> bool:
    """
    Synchronize every box pair of one channel; report each failure.

    @return: whether everything succeeded.
    """
    channel = job.channel
    output.emit(Severity.INFO, f"Channel {channel.name}")
    output.event("channel", channel=channel.name)
    skipped = _failed_store_message(channel, run)
    if skipped is not None:
        # mbsync 1.4.4 says this only with -V (an info message).
        output.emit(Severity.INFO, skipped)
        return False
    if not open_stores(run, channel, output, listing=False):
        return False
    options = PairOptions.from_channel(channel, request.overrides, dry_run=request.dry_run)
    options = replace(options, isync15=request.generation is Generation.V15)
    try:
        stores = [run.store(channel.store(side)) for side in (Side.FAR, Side.NEAR)]
        for store in stores:
            if isinstance(store, IMAPStoreImpl) and channel.patterns and job.boxes is None:
                # Its LIST may go out with its NAMESPACE.
                store.expect_list_boxes()
        if not request.verbose:
            _expect_first_box(config, job, run, request, options, (stores[0], stores[1]))
        for side in (Side.FAR, Side.NEAR):
            store = run.store(channel.store(side))
            if isinstance(store, IMAPStoreImpl):
                # mbsync opens boxes once both stores are connected (and
                # -V says so in that order), listed or not.
                await store.session()
        pairs = await channel_pairs(run, job)
    except StoreUnavailable as error:
        _store_failed(run, channel, output, error)
        return False
    except StoreError as error:
        output.emit(Severity.ERROR, _error_line(error))
        return False
    progress.update(boxes_total=progress.counters.boxes_total + len(pairs))
    far, near = run.store(channel.far_store), run.store(channel.near_store)
    note_channel(run.summary, options)
    if not request.verbose:
        _prefetch_fingerprints(config, channel, pairs, request, options, (far, near))
    if request.parallel > 1 and len(pairs) > 1:
        return await _sync_pairs_parallel(
            config, channel, pairs, run, request, output, progress, options, watch
        )
    ok = True
    try:
        for index, pair in enumerate(pairs):
            if watch is not None and watch.stopping():
                return ok
            ahead = None
            if index + 1 < len(pairs):
                ahead = _select_ahead(config, channel, pairs[index + 1], (far, near), request)
            outcome = await _sync_one_pair(
                config,
                channel,
                pair,
                (far, near),
                run,
                request,
                output,
                progress,
                options,
                watch,
                ahead,
            )
            ok = ok and outcome is _Outcome.OK
            if outcome is _Outcome.END_CHANNEL:
                return False
    finally:
        if isinstance(far, IMAPStoreImpl):
            # A SELECT sent ahead for a pair not reached (the channel
            # ended, or the daemon is stopping) is no one's.
            far.forget_unopened()
    return ok


def _prefetch_fingerprints(
    config: Config,
    channel: Channel,
    pairs: Sequence[BoxPair],
    request: SyncRequest,
    options: PairOptions,
    stores: tuple[IStore, IStore],
) -> None:
    """
    Ask the stores at once (one pipelined C{STATUS} per IMAP box) for the
    fingerprints of every box of a pair the last sync left a sidecar for,
    so that the pairs found unchanged cost no round trip each
    (L{msync.sync.quickcheck}); not where L{_quick_checks_ahead} says no.

    The channel's first pair, about to run, asks no C{STATUS} where its
    store can let the box's C{SELECT} answer instead
    (L{IMAPStoreImpl.select_first}): a changed box then costs the server
    one access, and the other boxes' C{STATUS} are answered while that
    pair is worked on.
    """
    if not _quick_checks_ahead(options):
        return
    wanted = []
    first_paths = None
    for pair in pairs:
        if pair.conflict is not None:
            continue
        try:
            paths = pair_state_paths(config, channel, pair, stores[1], request.state_directory)
        except MsyncError:
            continue
        if os.path.exists(sidecar_path(paths)):
            wanted.append(pair)
            if pair is pairs[0]:
                first_paths = paths
    for side, store in zip(Side, stores, strict=True):
        boxes = [pair.box(side) for pair in wanted]
        if isinstance(store, IMAPStoreImpl):
            if first_paths is not None and store.selecting(boxes[0]):
                # Its SELECT went out before the LIST (_expect_first_box).
                store.prefetch_fingerprints(boxes[1:])
                continue
            # An early SELECT of a box that is not the first pair's.
            store.forget_unopened()
            if first_paths is not None:
                # The first pair's quick check rides on its SELECT, which
                # a changed box needs anyway: one access to the box, not a
                # STATUS and then a SELECT; the others' STATUS go once it
                # has answered, so the server works on them while that
                # pair is worked on.
                path = listing_cache_path(first_paths, side)
                if store.select_first(boxes[0], path, then=boxes[1:]):
                    continue
        if boxes and IBoxFingerprints.providedBy(store):
            IBoxFingerprints(store).prefetch_fingerprints(boxes)


def _quick_checks_ahead(options: PairOptions) -> bool:
    """
    Whether a channel's boxes may be asked for their fingerprints before
    their pairs run (L{_prefetch_fingerprints}, L{_expect_first_box}): not
    in a dry run, nor with Trash (a pair trashing into another pair's box
    would make that box's early answer stale).
    """
    return not options.dry_run and not any(
        side.trash is not None or side.trash_remote_new for side in (options.far, options.near)
    )


def _expect_first_box(
    config: Config,
    job: ChannelJob,
    run: RunState,
    request: SyncRequest,
    options: PairOptions,
    stores: tuple[IStore, IStore],
) -> None:
    """
    Before the LIST: the IMAP stores' C{SELECT} of the pair the channel
    likely starts with, INBOX, may go out before that C{LIST}
    (L{IMAPStoreImpl.expect_first_box}), where L{_prefetch_fingerprints}
    would let it answer the pair's quick check: the channel's Patterns
    match INBOX and its pair left a sidecar (and no Trash or dry run).
    L{_prefetch_fingerprints} lets the C{SELECT} go if the LIST puts
    another pair first.
    """
    channel = job.channel
    if not channel.patterns or job.boxes is not None or not _quick_checks_ahead(options):
        return
    guess = box_pairs(job, [INBOX], [INBOX], run.names)
    if not guess or guess[0].conflict is not None:
        return
    pair = guess[0]
    try:
        paths = pair_state_paths(config, channel, pair, stores[1], request.state_directory)
    except MsyncError:
        return
    if not os.path.exists(sidecar_path(paths)):
        return
    for side, store in zip(Side, stores, strict=True):
        if isinstance(store, IMAPStoreImpl):
            store.expect_first_box(pair.box(side), listing_cache_path(paths, side))


def _select_ahead(
    config: Config,
    channel: Channel,
    pair: BoxPair,
    stores: tuple[IStore, IStore],
    request: SyncRequest,
) -> Callable[[], Deferred[None] | None] | None:
    """
    What a pair's run calls once it asks the far store nothing more (the
    engine's C{far_done}), before it commits: the far C{SELECT} of C{pair},
    the next one, goes out then if the far box's prefetched C{STATUS} has
    answered and says it changed since the sidecar (L{IMAPStoreImpl.select_ahead}):
    that pair cannot be skipped and would send the very same C{SELECT} and
    FETCH first thing; the server works on them while this pair commits
    and the next one reads its state. C{None} where nothing could be sent
    (a far store not IMAP, C{-V}, a dry run, a pair in conflict).

    The call returns, when it sent them, a L{Deferred} that fires once the
    reactor has written them (L{IMAPStoreImpl.sent}): the engine waits
    for it before its renames and commit, which give the reactor no turn.
    """
    far, near = stores
    if not isinstance(far, IMAPStoreImpl) or request.verbose or request.dry_run:
        return None
    if pair.conflict is not None:
        return None

    def send() -> Deferred[None] | None:
        try:
            paths = pair_state_paths(config, channel, pair, near, request.state_directory)
        except MsyncError:
            return None
        known = saved_far(paths)
        if known is not None and far.select_ahead(
            pair.far, listing_cache_path(paths, Side.FAR), known
        ):
            return far.sent()
        return None

    return send


class _Recorded:
    """
    An L{Emitter} that keeps what a box pair says, to be replayed in the
    order of the pairs (C{--parallel}); the progress line is drawn at once.
    """

    def __init__(self, output: Emitter) -> None:
        self.output = output
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def emit(self, severity: Severity, text: str) -> None:
        self.calls.append(("emit", (severity, text), {}))

    def print_line(self, text: str) -> None:
        self.calls.append(("print_line", (text,), {}))

    def show_progress(self, counters: Counters) -> None:
        self.output.show_progress(counters)

    def event(self, kind: str, **fields: object) -> None:
        self.calls.append(("event", (kind,), fields))

    def replay(self) -> None:
        """
        Say it all through the real output, in the order it was said.
        """
        for name, arguments, keywords in self.calls:
            getattr(self.output, name)(*arguments, **keywords)
        self.calls.clear()


async def _sync_pairs_parallel(
    config: Config,
    channel: Channel,
    pairs: Sequence[BoxPair],
    run: RunState,
    request: SyncRequest,
    output: Emitter,
    progress: _Progress,
    options: PairOptions,
    watch: PairWatch | None,
) -> bool:
    """
    C{--parallel N}: the channel's box pairs over N lanes, each lane with
    stores (so connections) of its own; pairs sharing a state file go one
    after another in one lane. What each pair says is held back and said
    in the order of the pairs, as a serial run would say it; the progress
    line counts every running pair.

    @return: whether everything succeeded.
    """
    # Pairs that share a state file (or a lock) are one unit of work.
    units: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        key = f"#{index}"
        if pair.conflict is None:
            try:
                near = run.store(channel.near_store)
                key = pair_state_paths(config, channel, pair, near, request.state_directory).state
            except MsyncError:
                pass  # reported when the pair is synchronized
        units.setdefault(key, []).append(index)
    queue = deque(units.values())
    records = [_Recorded(output) for _ in pairs]
    outcomes: list[_Outcome | None] = [None] * len(pairs)
    said = 0
    ended = False

    def say() -> None:
        # Replay every finished pair whose predecessors are all finished.
        nonlocal said
        while said < len(pairs) and outcomes[said] is not None:
            records[said].replay()
            said += 1

    async def lane(number: int) -> None:
        nonlocal ended
        stores: tuple[IStore, IStore] | None = None
        try:
            while queue and not ended:
                if watch is not None and watch.stopping():
                    return
                unit = queue.popleft()
                if stores is None:
                    try:
                        stores = _lane_stores(run, channel, number)
                    except StoreUnavailable:
                        # No store of its own: the other lanes go on.
                        queue.appendleft(unit)
                        return
                for index in unit:
                    if ended:
                        break
                    outcome = await _sync_one_pair(
                        config,
                        channel,
                        pairs[index],
                        stores,
                        run,
                        request,
                        records[index],
                        progress,
                        options,
                        watch,
                    )
                    outcomes[index] = outcome
                    if outcome is _Outcome.END_CHANNEL:
                        ended = True
                    say()
        finally:
            if stores is not None and number:
                for store in stores:
                    await _close_quietly(store)

    lanes = min(request.parallel, len(units))
    await gatherResults(
        [Deferred.fromCoroutine(lane(number)) for number in range(lanes)], consumeErrors=True
    )
    # Pairs not reached (the channel ended early) said nothing; the rest
    # is said in order now.
    for index in range(said, len(pairs)):
        records[index].replay()
    done = [each for each in outcomes if each is not None]
    return not ended and all(each is _Outcome.OK for each in done)


def _lane_stores(run: RunState, channel: Channel, number: int) -> tuple[IStore, IStore]:
    """
    The far and near stores of a C{--parallel} lane: the run's own for the
    first lane, new ones (new connections) for the others.
    """
    if number == 0:
        return run.store(channel.far_store), run.store(channel.near_store)
    far = run.factory(channel.far_store)
    try:
        near = run.factory(channel.near_store)
    except BaseException:
        Deferred.fromCoroutine(_close_quietly(far))
        raise
    return far, near


async def _close_quietly(store: IStore) -> None:
    try:
        await store.close()
    except MsyncError as error:
        log.info("closing a store failed: {error}", error=error)


class _Outcome(enum.Enum):
    """
    How one box pair ended, for the channel's loop.
    """

    OK = "ok"
    FAILED = "failed"
    # The channel's other pairs are skipped (a store failed, or the
    # near store's layout is bad).
    END_CHANNEL = "end channel"


async def _sync_one_pair(
    config: Config,
    channel: Channel,
    pair: BoxPair,
    stores: tuple[IStore, IStore],
    run: RunState,
    request: SyncRequest,
    output: Emitter,
    progress: _Progress,
    options: PairOptions,
    watch: PairWatch | None,
    ahead: Callable[[], Deferred[None] | None] | None = None,
) -> _Outcome:
    """
    Synchronize one box pair over C{stores} (far, near); report its failure.

    @param ahead: called by a full sync once it asks the far store nothing
        more (L{_select_ahead}).
    """
    far, near = stores
    masked = run.upgrade_masked.get(channel.name)
    if masked:
        options = options.without_upgrade(masked)
    if pair.conflict is not None:
        # Another pair reaches the same server box (plan.box_pairs).
        output.emit(Severity.ERROR, f"Error: {pair.conflict}")
        progress.pair_done(None)
        return _Outcome.FAILED
    output.event("box", channel=channel.name, far=pair.far, near=pair.near)
    result: PairResult | None = None
    counting = progress.pair()
    try:
        paths = pair_state_paths(config, channel, pair, near, request.state_directory)
        if request.state_directory is not None and not request.dry_run:
            if paths.state.startswith(request.state_directory):
                # mbsync 1.5 creates every level of its state directory.
                os.makedirs(request.state_directory, mode=0o700, exist_ok=True)
        _expect_pairing({Side.FAR: far, Side.NEAR: near}, pair, paths)
        label = f":{far.name}:{pair.far}-:{near.name}:{pair.near}"
        if not request.verbose and await skip_unchanged(
            stores, (pair.far, pair.near), options, paths, label
        ):
            result = PairResult(
                far_box=pair.far,
                near_box=pair.near,
                unchanged=True,
                upgrade_masked=skipped_upgrade_mask(options),
            )
        else:
            if not request.dry_run:
                sending: list[IMAPStoreImpl] = []
                for side, store in ((Side.FAR, far), (Side.NEAR, near)):
                    if not isinstance(store, IMAPStoreImpl):
                        continue
                    if store.selecting(pair.box(side)):
                        # Its SELECT answered the quick check: what went
                        # out behind it (other boxes' STATUS) must leave.
                        sending.append(store)
                    # Its listing FETCH may go out with its SELECT.
                    elif store.expect_listing(
                        pair.box(side),
                        listing_cache_path(paths, side),
                        select_now=not request.verbose,
                    ):
                        sending.append(store)
                if sending:
                    # Out before the engine's start, which waits for
                    # nothing (its first import, the state's lock and
                    # reading, the Maildir's names): the server works on
                    # the SELECT and FETCH meanwhile.
                    await sending[0].sent()
            result = await _full_sync(
                config, pair, stores, request, options, paths, counting, output, ahead
            )
        for side in Side:
            run.summary.expunged[side] += result.expunge_flagged[side]
        if result.upgrade_masked:
            run.upgrade_masked[channel.name] = (masked or frozenset()) | result.upgrade_masked
        for line in result.planned:
            sentence = planned_sentence(channel.name, pair.far, pair.near, line)
            if request.generation is Generation.V15:
                # isync 1.5's dry run prints only its summary: the plan
                # is verbose output there.
                output.emit(Severity.INFO, sentence)
            else:
                output.print_line(sentence)
        if watch is not None:
            watch.pair_finished(channel, pair, result, None)
    except StoreUnavailable as error:
        _store_failed(run, channel, output, error)
        if watch is not None:
            watch.pair_finished(channel, pair, None, error)
        return _Outcome.END_CHANNEL
    except MsyncError as error:
        output.emit(Severity.ERROR, _error_line(error))
        if watch is not None:
            watch.pair_finished(channel, pair, None, error)
        if isinstance(error, LayoutError) and error.ends_channel:
            # mbsync's "store bad": the channel's other boxes are skipped.
            return _Outcome.END_CHANNEL
        return _Outcome.FAILED
    except Exception:
        # The one broad handler (STYLE §5): a bug in one box pair must
        # not lose the other pairs' work.
        log.failure(
            "{channel}: synchronizing {far} <=> {near} failed",
            channel=channel.name,
            far=pair.far,
            near=pair.near,
        )
        output.emit(
            Severity.ERROR,
            f"Error: channel {channel.name}: internal error "
            f"synchronizing {shown_name(pair.far)} <=> {shown_name(pair.near)}",
        )
        return _Outcome.FAILED
    finally:
        for side, store in zip(Side, stores, strict=True):
            if isinstance(store, IMAPStoreImpl):
                # Skipped, or failed before opening: its early SELECT is
                # no one's now (one sent ahead for the next pair is kept).
                store.forget_unopened(pair.box(side))
        progress.pair_done(counting)
        output.event("box_done", **_box_fields(channel.name, pair, result))
    return _Outcome.OK


async def _full_sync(
    config: Config,
    pair: BoxPair,
    stores: tuple[IStore, IStore],
    request: SyncRequest,
    options: PairOptions,
    paths: StatePaths,
    counting: PairProgress,
    output: Emitter,
    ahead: Callable[[], Deferred[None] | None] | None = None,
) -> PairResult:
    """
    The full sync of a pair that could not be skipped (L{msync.sync.engine}).
    """
    # Imported here: a run whose pairs are all skipped unopened never
    # loads the engine, the planner, the copier nor the journal writer.
    from msync.sync.engine import sync_pair

    return await sync_pair(
        stores[0],
        stores[1],
        pair.far,
        pair.near,
        options,
        paths,
        progress=counting,
        notify=output.emit,
        fsync=config.global_options.fsync,
        journal_version=request.generation.journal_version,
        journal_testing=request.journal_testing,
        quick=not request.verbose,
        found_changed=True,
        far_done=ahead,
    )


def _box_fields(channel: str, pair: BoxPair, result: PairResult | None) -> dict[str, object]:
    """
    The C{box_done} event of C{--json}: the pair, whether it succeeded,
    what was done on each side, and whether it was found unchanged without
    opening its boxes (L{msync.sync.quickcheck}).
    """
    fields: dict[str, object] = {
        "channel": channel,
        "far": pair.far,
        "near": pair.near,
        "ok": result is not None,
    }
    for name in ("stored", "flag_updates", "trashed", "expunged"):
        counts = getattr(result, name) if result is not None else {}
        fields[name] = {side.label: counts.get(side, 0) for side in (Side.FAR, Side.NEAR)}
    fields["unchanged"] = result is not None and result.unchanged
    return fields


async def sync_channels(
    config: Config,
    jobs: Sequence[ChannelJob],
    factory: StoreFactory,
    request: SyncRequest,
    output: Emitter,
    watch: PairWatch | None = None,
) -> int:
    """
    Synchronize the selected channels in order, as C{mbsync} does.

    @param watch: told of each box pair's outcome, and asked before each
        pair whether to go on (the daemon's targeted syncs and stop).
    @return: the exit status: 1 if anything failed, else 0.
    """
    run = RunState(factory, names=names_for(request.generation))
    progress = _Progress(output, len(jobs))
    status = 0
    try:
        for done, job in enumerate(jobs):
            if watch is not None and watch.stopping():
                break
            if not await _sync_channel(config, job, run, request, output, progress, watch):
                status = 1
            progress.update(channels_done=done + 1)
    finally:
        await run.close()
    return _finish(run, progress.counters, request, output, status)


def _finish(
    run: RunState, counters: Counters, request: SyncRequest, output: Emitter, status: int
) -> int:
    """
    isync 1.5's end of a run: the summary, and C{--ext-exit}'s bits.
    """
    summary = replace(run.summary, boxes=counters.boxes_done)
    text = summary_text(summary, counters, dry_run=request.dry_run)
    if request.summary and text is not None:
        output.print_line(text)
    return status | (ext_exit_bits(summary, counters) if request.ext_exit else 0)


def imap_connection(
    section: IMAPStore, reactor: MailReactor, names: NameMapping = MBSYNC14_NAMES
) -> IMAPStoreImpl:
    """
    A connection of its own to an IMAP store, with the same login, TLS and
    naming as a sync's (the daemon's IDLE and STATUS connections).

    @param section: the store section.
    @param reactor: the reactor.
    @param names: how box names map to server names.
    @return: the store; C{session()} connects, C{close()} logs out.
    """
    return IMAPStoreImpl(section, reactor=reactor, names=names)


def interrupt_store(store: IStore) -> None:
    """
    Stop a sync using C{store} at its next network wait: an IMAP store's
    connection is closed (the engine's journal makes any point safe, the
    run then ends as if the connection had been lost). Maildir stores have
    no wait to cut short.

    @param store: a store made by L{default_store_factory}.
    """
    if isinstance(store, IMAPStoreImpl):
        store.unavailable("msync is stopping")


def near_box_path(config: Config, channel: Channel, box: str, clock: IReactorTime) -> str | None:
    """
    The directory of a channel's near box when the near store is a Maildir
    (the daemon watches it and lists it in the mailboxes file).

    @return: the absolute path, or C{None} (IMAP, or an impossible name).
    """
    section = channel.near_store
    if not isinstance(section, MaildirStore) or section.path is None and box != INBOX:
        return None
    store = MaildirStoreImpl(section, fsync=config.global_options.fsync, clock=clock)
    try:
        return os.path.abspath(store.path_of(box))
    except MsyncError:
        return None


def server_key(section: Store) -> str | None:
    """
    What identifies the server of an IMAP store section (for the daemon's
    per-server connection limit), or C{None} for a Maildir store.
    """
    if not isinstance(section, IMAPStore):
        return None
    account = section.account
    if account.tunnel is not None:
        return f"tunnel:{account.tunnel}"
    return f"{account.host}:{account.port}"


def _quoted(path: str) -> str:
    """
    C{path} quoted for a shell command line (L{shlex.quote}; imported
    here: only this hint needs it).
    """
    import shlex

    return shlex.quote(path)
