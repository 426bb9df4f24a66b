# -*- test-case-name: tests.test_runner -*-
"""
From a parsed configuration and the selected channels to stores, box pairs
and the synchronizer, with mbsync's per-channel and per-box error isolation.

Invariants:
  - this is the only module that names concrete stores;
  - a store is opened once per run and reused by every channel that uses it;
    a store that failed to open makes later channels using it print mbsync's
    C{Skipping due to failed ... store} and count as failed;
  - one failing box pair fails that pair (exit status 1), never the run:
    the broad exception handler here is the only one in msync (STYLE §5).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from msync.config.schema import Channel, Config, IMAPStore, MaildirStore, Store
from msync.errors import MsyncError, StoreError, StoreUnavailable
from msync.model import INBOX, Side
from msync.plan import BoxPair, ChannelJob, ListScope, box_pairs, list_lines, list_scope
from msync.report import Severity
from msync.stores.interface import IStore
from msync.stores.maildirstore import MaildirStore as MaildirStoreImpl

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


StoreFactory = Callable[[Store], IStore]
"""Makes the store object for a store section (tests pass in-memory ones)."""


def default_store_factory(config: Config, clock: IReactorTime) -> StoreFactory:
    """
    The factory used by the C{msync} command: Maildir stores on disk; IMAP
    stores are not available yet (issue 5).

    @param config: the whole configuration (global options).
    @param clock: the reactor's clock.
    @return: the factory.
    """

    def make(store: Store) -> IStore:
        if isinstance(store, MaildirStore):
            # mbsync 1.4 refuses a Maildir store whose Path does not exist.
            if store.path is not None and not os.path.exists(store.path):
                raise StoreUnavailable(f"Maildir error: cannot open store '{store.path}'")
            return MaildirStoreImpl(store, fsync=config.global_options.fsync, clock=clock)
        assert isinstance(store, IMAPStore)
        raise StoreUnavailable(f"IMAP store '{store.name}': IMAP stores are not implemented yet")

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
        if store.path is None:
            return False
        return (store.inbox.rstrip("/") + "/").startswith(store.path)
    return True


@dataclass
class RunState:
    """
    Stores opened during one run, and the ones that failed.

    @ivar factory: makes store objects.
    @ivar stores: open stores by section name.
    @ivar failed: names of stores that could not be used.
    """

    factory: StoreFactory
    stores: dict[str, IStore] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def store(self, section: Store) -> IStore:
        """
        The store object for a section, made on first use.

        @raise StoreUnavailable: when it cannot be made.
        """
        if section.name in self.failed:
            raise StoreUnavailable(section.name)
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
    return box_pairs(job, far, near)


def _failed_store_message(channel: Channel, run: RunState) -> str | None:
    """
    mbsync's message for a channel whose store already failed.
    """
    for side in (Side.FAR, Side.NEAR):
        section = channel.store(side)
        if section.name in run.failed:
            return f"Skipping due to failed {side.label} side store {section.name}."
    return None


def open_stores(run: RunState, channel: Channel, output: Emitter) -> bool:
    """
    Make both stores of a channel, reporting every failure as mbsync does
    (it opens both sides before giving up on the channel).

    @return: whether both stores are usable.
    """
    usable = True
    for side in (Side.FAR, Side.NEAR):
        try:
            run.store(channel.store(side))
        except StoreUnavailable as error:
            output.emit(Severity.ERROR, str(error))
            usable = False
    return usable


async def list_channels(jobs: Sequence[ChannelJob], factory: StoreFactory, output: Emitter) -> int:
    """
    C{msync -l}: print the boxes each selected channel would synchronize,
    as C{mbsync -l} does (a C{chan:} header before each channel when more
    than one is listed).

    @param jobs: the selected channels.
    @param factory: makes the stores.
    @param output: where lines and errors go.
    @return: the exit status.
    """
    run = RunState(factory)
    status = 0
    try:
        for job in jobs:
            skipped = _failed_store_message(job.channel, run)
            if skipped is not None:
                output.emit(Severity.ERROR, skipped)
                status = 1
                continue
            if not open_stores(run, job.channel, output):
                status = 1
                continue
            try:
                pairs = await channel_pairs(run, job)
            except StoreError as error:
                output.emit(Severity.ERROR, f"Error: {error}")
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
