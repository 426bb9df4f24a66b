# -*- test-case-name: tests.daemon.test_backend -*-
"""
The daemon's L{msync.daemon.core.Backend} over the runner: configuration,
channel selection, syncs with the log as output, IDLE/STATUS connections.

Invariants:
  - the configuration is re-read at every full round, so edits take
    effect without a restart (a broken one skips rounds until fixed);
  - the runner's messages go to the log: errors as errors, warnings as
    warnings, mbsync's C{-V} information (C{Channel ...}) at debug level;
    a locked channel is not an error here (the scheduler retries it), nor
    is the loss of a connection the daemon cut itself when stopping;
  - every store a running sync made is known until the sync ends, so
    L{RunnerBackend.interrupt} reaches them all.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from msync.compat import Generation
from msync.compatprobe import Decision, decide, installed_mbsync
from msync.config.load import default_config_path, load_config
from msync.config.schema import Channel, Config, IMAPStore, Store
from msync.daemon.idle import IdleSource
from msync.errors import ConfigError
from msync.plan import ChannelJob, select_jobs
from msync.reactor import MailReactor
from msync.report import Counters, Severity
from msync.runner import (
    PairWatch,
    SyncRequest,
    default_store_factory,
    imap_connection,
    interrupt_store,
    near_box_path,
    server_key,
    sync_channels,
)
from msync.stores.imapnames import names_for
from msync.stores.interface import IStore

log = Logger()


class LogOutput:
    """
    The runner's output, sent to the log (the daemon has no terminal).
    """

    def __init__(self, stopping: Any = None) -> None:
        self._stopping = stopping

    def emit(self, severity: Severity, text: str) -> None:
        """
        Log a message at the level matching its class.
        """
        quiet = (self._stopping is not None and self._stopping()) or text.endswith(" is locked")
        if severity is Severity.ERROR and not quiet:
            log.error("{text}", text=text)
        elif severity is Severity.WARNING and not quiet:
            log.warn("{text}", text=text)
        else:
            log.debug("{text}", text=text)

    def print_line(self, text: str) -> None:
        """
        Log a result line.
        """
        log.info("{text}", text=text)

    def show_progress(self, counters: Counters) -> None:
        """
        No progress line without a terminal.
        """

    def event(self, kind: str, **fields: object) -> None:
        """
        No C{--json} events in the daemon (its log says what changed).
        """


class RunnerBackend:
    """
    Syncs through L{msync.runner.sync_channels}, connections through
    L{msync.runner.imap_connection}.
    """

    def __init__(
        self,
        reactor: MailReactor,
        config_path: str | None,
        targets: list[str],
        all_channels: bool,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.reactor = reactor
        self.config_path = config_path
        self.targets = targets
        self.all_channels = all_channels
        self.environ = dict(os.environ if environ is None else environ)
        self.stopping = False
        self._live: set[IStore] = set()
        # The mbsync generation (docs/compat.md), decided at every load.
        # The installed mbsync is asked once, now, before the reactor runs
        # (asking during a round would block it).
        self.decision: Decision | None = None
        self._installed = installed_mbsync()

    def load(self) -> tuple[Config, tuple[ChannelJob, ...]]:
        """
        Read the configuration and select the channels.

        @raise ConfigError: when it is broken or selects nothing.
        """
        path = self.config_path
        if path is None:
            home = self.environ.get("HOME") or os.path.expanduser("~")
            path = default_config_path(home, self.environ, os.path.exists)
        config = load_config(path, self.environ)
        home = self.environ.get("HOME") or os.path.expanduser("~")
        self.decision = decide(config, path, None, self.environ, home, run=self._answer)
        if self.decision.choice.generation is Generation.V15:
            # isync 1.5: relative paths from the configuration's directory.
            config = load_config(path, self.environ, isync15=True)
        selection = select_jobs(config, self.targets, all_channels=self.all_channels)
        for message in selection.errors:
            log.error("{message}", message=message)
        if not selection.jobs:
            raise ConfigError(path, None, "no channel to serve", located=False)
        return config, selection.jobs

    async def sync(self, config: Config, job: ChannelJob, watch: PairWatch, lanes: int = 1) -> int:
        """
        Synchronize one channel job, up to C{lanes} box pairs at once.
        """
        base = default_store_factory(config, self.reactor, names_for(self.generation))
        made: list[IStore] = []

        def factory(section: Store) -> IStore:
            store = base(section)
            made.append(store)
            self._live.add(store)
            if self.stopping:
                interrupt_store(store)
            return store

        output = LogOutput(lambda: self.stopping)
        try:
            request = replace(self.request(), parallel=lanes)
            return await sync_channels(config, (job,), factory, request, output, watch)
        finally:
            self._live.difference_update(made)

    def _answer(self, argv: list[str]) -> str | None:
        """
        C{mbsync --version}'s output, as asked at start.
        """
        return self._installed

    @property
    def generation(self) -> Generation:
        """
        The mbsync generation followed (1.4 until a configuration is read).
        """
        return self.decision.choice.generation if self.decision is not None else Generation.V14

    def request(self) -> SyncRequest:
        """
        What a sync does: everything the channel says, in the generation's
        state location and journal version.
        """
        decision = self.decision
        if decision is None or decision.choice.generation is Generation.V14:
            return SyncRequest()
        return SyncRequest(
            generation=decision.choice.generation, state_directory=decision.state_directory
        )

    def interrupt(self) -> None:
        """
        Cut every running sync at its next network wait.
        """
        self.stopping = True
        for store in list(self._live):
            interrupt_store(store)

    def idle_source(self, section: Store) -> IdleSource:
        """
        A connection of its own to an IMAP store.
        """
        assert isinstance(section, IMAPStore)
        return imap_connection(section, self.reactor, names_for(self.generation))

    def near_path(self, config: Config, channel: Channel, box: str) -> str | None:
        """
        The Maildir directory of a near box.
        """
        return near_box_path(config, channel, box, IReactorTime(self.reactor))

    def server(self, section: Store) -> str | None:
        """
        The server of an IMAP store section.
        """
        return server_key(section)
