# -*- test-case-name: tests.test_service -*-
"""
The twistd side of msync: C{twistd msync} options and the service they make.

The daemon synchronizes the selected channels when it starts and then every
C{--interval} seconds, with the same configuration, state files and locks as
the C{msync} command (so a cron C{msync -a} or C{mbsync -a} and the daemon
never work on one box pair at once: the state lock excludes them). IMAP IDLE
push and CONDSTORE/QRESYNC incremental sync are to come.

Invariants:
  - the periodic call never raises (a failure is logged and the next round
    runs as planned);
  - rounds never overlap: the next one is scheduled when the last ended;
  - the configuration is re-read every round, so edits take effect without a
    restart, and a broken configuration only skips rounds until fixed.
"""

from __future__ import annotations

import os
from typing import Any, cast

from twisted.application.internet import TimerService
from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python import usage

from msync.config.load import default_config_path, load_config
from msync.errors import ConfigError
from msync.plan import select_jobs
from msync.report import Counters, Severity
from msync.runner import SyncRequest, default_store_factory, sync_channels

log = Logger()


class Options(usage.Options):
    """
    Command-line options of C{twistd msync}.
    """

    synopsis = "[options] [channel[:box,...]|group] ..."
    longdesc = (
        "Run msync as a daemon: synchronize the channels named on the command line "
        "(or all with --all) now and then every --interval seconds."
    )

    optFlags = [
        ["all", "a", "Synchronize all channels of the configuration."],
    ]
    optParameters = [
        ["config", "c", None, "Configuration file (default: ~/.mbsyncrc or XDG isyncrc)."],
        ["interval", "i", 300, "Seconds between periodic synchronizations.", int],
    ]

    def parseArgs(self, *targets: str) -> None:
        """
        Keep the channel and group names given after the options.
        """
        self["targets"] = list(targets)

    def postOptions(self) -> None:
        """
        Check that something is to be synchronized.
        """
        if not self["all"] and not self["targets"]:
            raise usage.UsageError("name channels or groups to synchronize, or use --all")
        if self["interval"] < 1:
            raise usage.UsageError("--interval must be at least 1 second")


class _LogOutput:
    """
    The runner's output, sent to the Twisted log (the daemon has no
    terminal).
    """

    def emit(self, severity: Severity, text: str) -> None:
        """
        Log a message at the level matching its class.
        """
        if severity is Severity.ERROR:
            log.error("{text}", text=text)
        elif severity is Severity.WARNING:
            log.warn("{text}", text=text)
        else:
            log.info("{text}", text=text)

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
        No C{--json} events in the daemon.
        """


class SyncRound:
    """
    One periodic synchronization of the selected channels.

    @ivar rounds: how many rounds ran; @ivar last_status: the exit status
        the C{msync} command would have had for the last round.
    """

    def __init__(
        self,
        reactor: IReactorTime,
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
        self.rounds = 0
        self.last_status: int | None = None

    def __call__(self) -> Deferred[None]:
        """
        Run one round; the Deferred never fails.
        """
        return Deferred.fromCoroutine(self._round())

    async def _round(self) -> None:
        self.rounds += 1
        try:
            self.last_status = await self._sync()
        except Exception:
            # STYLE §4: a periodic callable must never raise.
            log.failure("msync round {round} failed", round=self.rounds)
            self.last_status = 1

    async def _sync(self) -> int:
        path = self.config_path
        if path is None:
            home = self.environ.get("HOME") or os.path.expanduser("~")
            path = default_config_path(home, self.environ, os.path.exists)
        try:
            config = load_config(path, self.environ)
        except ConfigError as error:
            log.error("{error}", error=str(error))
            return 1
        selection = select_jobs(config, self.targets, all_channels=self.all_channels)
        for message in selection.errors:
            log.error("{message}", message=message)
        factory = default_store_factory(config, self.reactor)
        status = await sync_channels(
            config, selection.jobs, factory, SyncRequest(), _LogOutput(), self.reactor
        )
        return max(status, 1 if selection.errors else 0)


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    Build the msync daemon service from parsed C{twistd msync} options.

    @param reactor: the reactor (default: the global one, as twistd runs it).
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    service = MultiService()
    service.setName("msync")
    sync_round = SyncRound(
        cast(IReactorTime, reactor), options["config"], options["targets"], options["all"]
    )
    timer = TimerService(options["interval"], sync_round)
    timer.clock = reactor
    timer.setName("periodic-sync")
    timer.setServiceParent(service)
    return service
