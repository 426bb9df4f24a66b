# -*- test-case-name: tests.daemon.test_core -*-
"""
The daemon's scheduler: when which box pair is synchronized.

Work comes from: the full round (every channel, at start and every
C{interval}); quick checks (C{STATUS} of the known far boxes every
C{quick_interval}, syncing only those that changed); IDLE watchers (one far
box each); the local Maildir watcher; and lock retries. All of it is a
request to a channel's L{ChannelQueue}.

Invariants:
  - never two syncs of one channel (so of one box pair) at once: each
    channel has one queue, run one job at a time; requests made while it
    runs are merged into the next job (a full request absorbs box
    requests);
  - at most C{max_connections} connections per server: IDLE watchers hold
    one slot each for their life (at most C{max_connections - 1} of them,
    so syncs always have one), a sync or quick check one slot per IMAP
    server it uses, while it runs; a sync also takes the slots free when
    it starts but one (without waiting, up to C{max_connections - 1} in
    all) to sync that many box pairs at once;
  - a box another process holds locked is retried after C{lock_retry}
    seconds, without an error message;
  - nothing ever raises out of a timer callback (STYLE §4): the one broad
    handler of a sync job is L{msync.runner}'s per-pair boundary, a
    quick check logs its failure and lets the next one run;
  - after L{Daemon.stop} nothing new starts; the running syncs are cut
    at their next network wait, watchers log out, hooks finish; the
    Deferred fires within C{stop_timeout} seconds whatever the network
    does.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from msync.config.schema import Channel, Config, Store
from msync.daemon.hooks import HookRun, MailboxesFile
from msync.daemon.idle import BoxWatcher, Debouncer, IdleSource
from msync.daemon.settings import Backoff, DaemonSettings, change_summary, idled
from msync.errors import ChannelLocked, ConfigError
from msync.model import Side
from msync.plan import BoxPair, ChannelJob
from msync.sync.results import PairResult

log = Logger()

#: Seconds after a sync during which Maildir events are taken for its own.
_OWN_WRITES_GRACE = 0.25

#: Seconds given to closed connections to finish closing when stopping.
_CLOSE_GRACE = 0.3


class Hooks(Protocol):
    """
    Where hook runs go (L{HookQueue}).
    """

    def submit(self, run: HookRun) -> None:
        """
        Queue a run.
        """

    async def stop(self) -> None:
        """
        Start nothing more; wait for the running hook.
        """


class Backend(Protocol):
    """
    What the scheduler needs of the rest of msync (L{msync.daemon.backend}
    implements it with the runner; tests pass fakes).
    """

    def load(self) -> tuple[Config, tuple[ChannelJob, ...]]:
        """
        Read the configuration and select the served channels.

        @raise ConfigError: when the configuration is broken.
        """

    def sync(self, config: Config, job: ChannelJob, watch: Any, lanes: int = 1) -> Awaitable[int]:
        """
        Synchronize one channel job (a L{msync.runner.PairWatch} given),
        up to C{lanes} box pairs at once (each lane its own connections).
        """

    def interrupt(self) -> None:
        """
        Cut the running syncs at their next network wait.
        """

    def idle_source(self, section: Store) -> IdleSource:
        """
        A connection of its own to an IMAP store.
        """

    def near_path(self, config: Config, channel: Channel, box: str) -> str | None:
        """
        The Maildir directory of a near box, if it is one.
        """

    def server(self, section: Store) -> str | None:
        """
        The server an IMAP store uses (C{None} for Maildir).
        """


@dataclass
class ChannelQueue:
    """
    The pending work of one channel.

    @ivar full: a full sync of the channel is requested.
    @ivar boxes: pairs requested, by far box.
    @ivar running: the job in progress.
    @ivar syncing: far boxes of the job in progress (C{None}: all).
    """

    job: ChannelJob
    full: bool = False
    boxes: dict[str, BoxPair] = field(default_factory=dict)
    running: Deferred[None] | None = None
    syncing: frozenset[str] | None = frozenset()
    pairs: dict[str, BoxPair] = field(default_factory=dict)
    jobs_run: int = 0
    finished_at: float = float("-inf")
    backoff: Backoff = field(default_factory=lambda: Backoff(1, 300, random.random))

    @property
    def pending(self) -> bool:
        """
        Whether anything waits.
        """
        return self.full or bool(self.boxes)


class _Watch:
    """
    The runner's L{msync.runner.PairWatch} for one job of one channel.
    """

    def __init__(self, daemon: Daemon, queue: ChannelQueue) -> None:
        self.daemon = daemon
        self.queue = queue
        self.synced = 0

    def stopping(self) -> bool:
        """
        Whether the daemon is stopping (the runner then starts no pair).
        """
        return self.daemon.stopping

    def pair_finished(
        self, channel: Channel, pair: BoxPair, result: PairResult | None, error: Exception | None
    ) -> None:
        """
        Count a pair that went through and pass its outcome on.
        """
        if result is not None:
            self.synced += 1
        self.daemon.pair_finished(self.queue, pair, result, error)


def _relative(channel: Channel, pair: BoxPair) -> str:
    """
    A pair's box name as C{chan:box} names it (without the far prefix).
    """
    prefix = channel.far.box or ""
    return pair.far[len(prefix) :] if pair.far.startswith(prefix) else pair.far


class Daemon:
    """
    Schedules the syncs of the served channels.

    @ivar rounds: full rounds started.
    @ivar quick_checks: quick checks started.
    @ivar queues: the channels' queues by name.
    @ivar watchers: IDLE watchers by (channel, far box).
    """

    def __init__(
        self,
        clock: IReactorTime,
        settings: DaemonSettings,
        backend: Backend,
        hooks: Hooks | None,
        random: Callable[[], float],
        *,
        local_watch: Callable[[Callable[[str], None]], Any] | None = None,
        stop_timeout: float = 4.0,
        interrupt_after: float = 1.5,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.backend = backend
        self.hooks = hooks
        self.random = random
        self.stop_timeout = stop_timeout
        self.interrupt_after = interrupt_after
        self.stopping = False
        self.rounds = 0
        self.quick_checks = 0
        self.config: Config | None = None
        self.queues: dict[str, ChannelQueue] = {}
        self.watchers: dict[tuple[str, str], BoxWatcher] = {}
        self._slots: dict[str, DeferredSemaphore] = {}
        self._idle_slots: dict[str, int] = {}
        self._timers: dict[str, IDelayedCall] = {}
        self._snapshots: dict[tuple[str, str], tuple[int | None, ...]] = {}
        self._checking: Deferred[None] | None = None
        self._local = local_watch(self._local_change) if local_watch and settings.local else None
        self._local_paths: dict[str, tuple[str, BoxPair]] = {}
        self._local_debounce: dict[str, Debouncer] = {}
        self._mailboxes = (
            MailboxesFile(settings.mailboxes_file) if settings.mailboxes_file else None
        )

    # Life cycle

    def start(self) -> None:
        """
        Run the first full round now and schedule the rest.
        """
        self._full_round()
        if self.settings.quick_interval > 0:
            self._schedule("quick", self.settings.quick_interval, self._quick_check)

    def _schedule(self, name: str, delay: float, action: Callable[[], None]) -> None:
        if not self.stopping:
            self._timers[name] = self.clock.callLater(delay, action)

    def _cancel_timers(self) -> None:
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()

    async def stop(self) -> None:
        """
        Stop: start nothing more, cut running syncs, log out, finish hooks;
        returns within C{stop_timeout} seconds.
        """
        if self.stopping:
            return
        self.stopping = True
        self._cancel_timers()
        for debouncer in self._local_debounce.values():
            debouncer.cancel()
        if self._local is not None:
            self._local.stop()
        syncs = [q.running for q in self.queues.values() if q.running is not None]
        if syncs:
            # A sync between two pairs stops by itself (the runner asks
            # stopping()); one in the middle of a pair is cut after a grace.
            await self._within(gatherResults(syncs, consumeErrors=True), self.interrupt_after)
            self.backend.interrupt()
        waits: list[Deferred[Any]] = [
            Deferred.fromCoroutine(watcher.stop()) for watcher in self.watchers.values()
        ]
        waits += [q.running for q in self.queues.values() if q.running is not None]
        if self._checking is not None:
            waits.append(self._checking)
        if self.hooks is not None:
            waits.append(Deferred.fromCoroutine(self.hooks.stop()))
        await self._within(
            gatherResults(waits, consumeErrors=True),
            self.stop_timeout - self.interrupt_after - _CLOSE_GRACE,
        )
        # Closed transports (LOGOUT answered, TLS close_notify) finish
        # closing on the next reactor turns; the reactor's own shutdown
        # would otherwise cut them half-closed.
        await self._within(Deferred(), _CLOSE_GRACE)

    async def _within(self, work: Deferred[Any], seconds: float) -> None:
        """
        Wait for C{work}, but no longer than C{seconds}.
        """
        done: Deferred[None] = Deferred()

        def finish(_: object = None) -> None:
            if not done.called:
                done.callback(None)

        timer = self.clock.callLater(max(0.0, seconds), finish)
        work.addBoth(finish)
        await done
        if timer.active():
            timer.cancel()

    def full_sync_now(self) -> None:
        """
        Request a full sync of everything now (SIGUSR1).
        """
        if not self.stopping:
            timer = self._timers.pop("full", None)
            if timer is not None and timer.active():
                timer.cancel()
            self._full_round()

    # Rounds

    def _load(self) -> bool:
        try:
            config, jobs = self.backend.load()
        except ConfigError as error:
            log.error("{error}", error=str(error))
            return False
        self.config = config
        names = set()
        for job in jobs:
            names.add(job.channel.name)
            queue = self.queues.get(job.channel.name)
            if queue is None:
                backoff = Backoff(
                    self.settings.backoff_initial, self.settings.backoff_max, self.random
                )
                self.queues[job.channel.name] = ChannelQueue(job, backoff=backoff)
            else:
                queue.job = job
        for name in set(self.queues) - names:
            queue = self.queues.pop(name)
            for key in [k for k in self.watchers if k[0] == name]:
                self._unwatch(key, queue)
        return True

    def _unwatch(self, key: tuple[str, str], queue: ChannelQueue) -> None:
        """
        Stop the watcher of a channel no longer served; give its
        connection slot back.
        """
        watcher = self.watchers.pop(key)
        server = self.backend.server(queue.job.channel.far_store)
        stopped = Deferred.fromCoroutine(watcher.stop())
        if server is not None:
            self._idle_slots[server] -= 1
            slot = self._slot(server)
            stopped.addCallback(lambda _: slot.release())

    def _full_round(self) -> None:
        self._timers.pop("full", None)
        self._schedule("full", self.settings.interval, self._full_round)
        self.rounds += 1
        if not self._load():
            return
        for queue in self.queues.values():
            self.request(queue, None)

    def request(self, queue: ChannelQueue, pair: BoxPair | None) -> None:
        """
        Ask for a sync of one pair of a channel (C{None}: all of it).
        """
        if self.stopping:
            return
        if pair is None:
            queue.full = True
            queue.boxes.clear()
        elif not queue.full:
            queue.boxes[pair.far] = pair
        if queue.running is None:
            queue.running = Deferred.fromCoroutine(self._drain(queue))

    async def _drain(self, queue: ChannelQueue) -> None:
        try:
            while queue.pending and not self.stopping and self.config is not None:
                channel = queue.job.channel
                if queue.full:
                    job, queue.syncing = queue.job, None
                else:
                    names = tuple(_relative(channel, p) for p in queue.boxes.values())
                    queue.syncing = frozenset(queue.boxes)
                    job = ChannelJob(channel, names if channel.patterns else None)
                full = queue.full
                queue.full, queue.boxes = False, {}
                await self._run_job(queue, job, full)
        finally:
            queue.syncing = frozenset()
            queue.running = None
            queue.finished_at = self.clock.seconds()

    async def _run_job(self, queue: ChannelQueue, job: ChannelJob, full: bool) -> None:
        assert self.config is not None
        config = self.config
        slots = self._servers(job.channel)
        for slot in slots:
            await slot.acquire()
        held = list(slots)
        try:
            if self.stopping:
                return
            # Box pairs sync in parallel over the server slots free now
            # (taken without waiting, so never beyond --max-connections),
            # leaving one free for a quick check or another channel.
            lanes = 1
            while lanes < max(1, self.settings.max_connections - 1) and all(
                slot.tokens > 1 for slot in slots
            ):
                for slot in slots:
                    slot.acquire()
                    held.append(slot)
                lanes += 1
            queue.jobs_run += 1
            watch = _Watch(self, queue)
            status = await self.backend.sync(config, job, watch, lanes)
        finally:
            for slot in held:
                slot.release()
        if self.stopping:
            return
        if status != 0 and not watch.synced:
            # Nothing got through (server down, DNS, login): retry the
            # channel with backoff rather than wait for the next round.
            delay = min(queue.backoff.next_delay(), self.settings.interval)
            log.info("{channel}: retrying in {delay:.0f}s", channel=job.channel.name, delay=delay)
            self._schedule(f"retry:{job.channel.name}", delay, lambda: self.request(queue, None))
            return
        queue.backoff.reset()
        if full:
            self._served(queue, config)

    def _servers(self, channel: Channel) -> list[DeferredSemaphore]:
        keys = {self.backend.server(channel.store(side)) for side in (Side.FAR, Side.NEAR)}
        return [self._slot(key) for key in sorted(k for k in keys if k is not None)]

    def _slot(self, key: str) -> DeferredSemaphore:
        if key not in self._slots:
            self._slots[key] = DeferredSemaphore(max(1, self.settings.max_connections))
        return self._slots[key]

    # Results

    def pair_finished(
        self,
        queue: ChannelQueue,
        pair: BoxPair,
        result: PairResult | None,
        error: Exception | None,
    ) -> None:
        """
        One pair done: log the change, run hooks, retry a locked pair.
        """
        channel = queue.job.channel
        queue.pairs[pair.far] = pair
        if isinstance(error, ChannelLocked):
            log.info(
                "{channel}:{box}: locked by another msync or mbsync; retrying in {delay}s",
                channel=channel.name,
                box=pair.near,
                delay=self.settings.lock_retry,
            )
            key = f"lock:{channel.name}:{pair.far}"
            if key not in self._timers or not self._timers[key].active():
                self._schedule(key, self.settings.lock_retry, lambda: self.request(queue, pair))
            return
        if result is None:
            return
        new = result.stored[Side.NEAR]
        pushed = result.stored[Side.FAR]
        flags = sum(result.flag_updates.values())
        removed = sum(result.trashed.values()) + sum(result.expunged.values())
        line = change_summary(pair.near, new, pushed, flags, removed)
        if line is None:
            return
        log.info("{channel}: {line}", channel=channel.name, line=line)
        self._run_hooks(channel, pair, new, new + pushed + flags + removed)

    def _run_hooks(self, channel: Channel, pair: BoxPair, new: int, changed: int) -> None:
        if self.hooks is None or self.stopping:
            return
        settings = self.settings
        if settings.post_sync_cmd:
            self.hooks.submit(
                HookRun(settings.post_sync_cmd, channel.name, pair.near, new, changed)
            )
        if settings.new_mail_cmd and new:
            self.hooks.submit(HookRun(settings.new_mail_cmd, channel.name, pair.near, new, changed))

    def _served(self, queue: ChannelQueue, config: Config) -> None:
        """
        After a channel's full sync: IDLE its idled boxes, watch its
        Maildir boxes, rewrite the mailboxes file.
        """
        channel = queue.job.channel
        if self.settings.idle:
            for pair in queue.pairs.values():
                name = _relative(channel, pair) if channel.patterns else pair.far
                if idled(name, self.settings.idle_patterns):
                    self._idle(queue, pair)
        for pair in queue.pairs.values():
            path = self.backend.near_path(config, channel, pair.near)
            if path is None:
                continue
            self._local_paths[path] = (channel.name, pair)
            if self._local is not None:
                self._local.watch(path)
        self._write_mailboxes()

    def _write_mailboxes(self) -> None:
        if self._mailboxes is None:
            return
        try:
            if self._mailboxes.update(self._local_paths):
                log.info("wrote {path}", path=self._mailboxes.path)
        except OSError as error:
            log.error("cannot write {path}: {error}", path=self._mailboxes.path, error=error)

    # IDLE

    def _idle(self, queue: ChannelQueue, pair: BoxPair) -> None:
        channel = queue.job.channel
        key = (channel.name, pair.far)
        if key in self.watchers:
            return
        section = channel.far_store
        server = self.backend.server(section)
        if server is None:
            return
        used = self._idle_slots.get(server, 0)
        if used >= self.settings.max_connections - 1:
            log.info(
                "{channel}:{box}: not idled: --max-connections {n} reached on {server}",
                channel=channel.name,
                box=pair.far,
                n=self.settings.max_connections,
                server=server,
            )
            return
        self._idle_slots[server] = used + 1
        watcher = BoxWatcher(
            self.clock,
            lambda: self.backend.idle_source(section),
            pair.far,
            lambda: self.request(queue, pair),
            self.settings,
            self.random,
            label=f"{channel.name}:{pair.far}",
        )
        self.watchers[key] = watcher

        # The watcher's connection counts against the server's limit for
        # as long as it lives.
        def start(_: object) -> None:
            if not self.stopping:
                watcher.start()

        self._slot(server).acquire().addCallback(start)

    # Quick checks

    def _quick_check(self) -> None:
        self._timers.pop("quick", None)
        self._schedule("quick", self.settings.quick_interval, self._quick_check)
        if self._checking is not None or self.config is None:
            return
        self.quick_checks += 1
        self._checking = Deferred.fromCoroutine(self._check_all(self.config))

    async def _check_all(self, config: Config) -> None:
        try:
            checks = [
                Deferred.fromCoroutine(self._check_channel(queue))
                for queue in list(self.queues.values())
                if queue.pairs and self.backend.server(queue.job.channel.far_store) is not None
            ]
            await gatherResults(checks, consumeErrors=True)
        except Exception:
            log.failure("quick check failed")
        finally:
            self._checking = None

    async def _check_channel(self, queue: ChannelQueue) -> None:
        channel = queue.job.channel
        section = channel.far_store
        server = self.backend.server(section)
        assert server is not None
        boxes = [p for p in queue.pairs.values() if (channel.name, p.far) not in self.watchers]
        if not boxes:
            return
        slot = self._slot(server)
        await slot.acquire()
        source = self.backend.idle_source(section)
        try:
            if self.stopping:
                return
            session, _ = await source.session()
            modseq = b"CONDSTORE" in await session.ensure_capabilities()
            items = (b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY") + (
                (b"HIGHESTMODSEQ",) if modseq else ()
            )
            for pair in boxes:
                status = await session.status(source.argument(pair.far), items)
                now = (status.messages, status.uid_next, status.uid_validity, status.highest_modseq)
                key = (channel.name, pair.far)
                before = self._snapshots.get(key)
                self._snapshots[key] = now
                if before is not None and before != now:
                    self.request(queue, pair)
        except Exception as error:
            # A quick check is an optimisation: the next one or the full
            # round does the work; the failure is logged, not raised.
            log.warn("{channel}: quick check failed: {error}", channel=channel.name, error=error)
        finally:
            slot.release()
            try:
                await source.close()
            except Exception as error:
                log.debug("{channel}: close: {error}", channel=channel.name, error=error)

    # Local changes

    def _local_change(self, path: str) -> None:
        found = self._local_paths.get(path)
        if found is None or self.stopping:
            return
        name, pair = found
        queue = self.queues.get(name)
        if queue is None:
            return
        if queue.syncing is None or pair.far in queue.syncing:
            # Our own writes (the pair is being synchronized): no loop.
            return
        if self.clock.seconds() - queue.finished_at < _OWN_WRITES_GRACE:
            # The last of our own writes, read after the sync ended.
            return
        debouncer = self._local_debounce.get(path)
        if debouncer is None:
            debouncer = Debouncer(
                self.clock,
                self.settings.debounce,
                self.settings.debounce_limit,
                lambda: self.request(queue, pair),
            )
            self._local_debounce[path] = debouncer
        debouncer.poke()
