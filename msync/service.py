# -*- test-case-name: tests.test_service -*-
"""
The twistd side of msync: C{twistd msync} options and the daemon service
they make (also run by the C{msyncd} console script, L{msync.daemonmain}).

The daemon synchronizes the selected channels at start and every
C{--interval} seconds, checks the far boxes' STATUS every
C{--quick-interval} seconds, is pushed changes by IMAP IDLE and by the near
Maildirs, runs hooks and keeps a mutt mailboxes file; see
L{msync.daemon.core} and docs/daemon.md. It uses the same configuration,
state files and locks as the C{msync} command, so a cron C{msync -a} or
C{mbsync -a} and the daemon never work on one box pair at once.

Invariants:
  - the daemon's logs go through twisted.logger at info level (one line
    per sync that changed something, errors, reconnections); C{-D} adds
    debug (the IMAP wire trace, passwords redacted), C{-q} keeps errors;
  - no C{twistd.pid} or C{twistd.log} in the current directory unless
    asked for with C{--pidfile}/C{--logfile};
  - stopping (SIGTERM, SIGINT) takes at most ~5 seconds and ends with every
    connection closed; SIGUSR1 runs a full sync now;
  - with C{NOTIFY_SOCKET} set, systemd is told C{READY=1} once the service
    runs and C{STOPPING=1} when it stops.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
from typing import IO, Any, cast

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    LogLevel,
    PredicateResult,
    textFileLogObserver,
)
from twisted.python import usage

from msync import __version__
from msync.daemon.backend import RunnerBackend
from msync.daemon.core import Daemon
from msync.daemon.hooks import HookQueue
from msync.daemon.localwatch import local_watch
from msync.daemon.settings import DaemonSettings

#: -D categories (as msync -D) → the namespaces whose debug events show.
DEBUG_CATEGORIES = {
    "n": ("msync.imap",),
    "d": ("msync.stores",),
    "m": ("msync.stores.maildir",),
    "s": ("msync.sync",),
}


class Options(usage.Options):
    """
    Command-line options of C{twistd msync} and C{msyncd}.
    """

    synopsis = "[options] [channel[:box,...]|group] ..."
    longdesc = (
        "Run msync as a daemon: synchronize the channels named on the command line "
        "(or all with --all) now, every --interval seconds, after quick STATUS checks, "
        "and whenever IMAP IDLE or the local Maildir reports a change. See docs/daemon.md."
    )

    optFlags = [
        ["all", "a", "Synchronize all channels of the configuration."],
        ["no-idle", None, "Do not use IMAP IDLE (rely on --quick-interval)."],
        ["no-local-watch", None, "Do not watch the near Maildirs for local changes."],
        ["quiet", "q", "Log errors only."],
        ["debug", "D", "Log debug output (all of it; -Dn: the IMAP wire trace only)."],
        ["debug-net", "n", "Debug output of the IMAP connections (-Dn), passwords redacted."],
        ["debug-drivers", "d", "Debug output of the stores (-Dd)."],
        ["debug-maildir", "m", "Debug output of the Maildir store (-Dm)."],
        ["debug-sync", "s", "Debug output of the sync engine (-Ds)."],
    ]
    optParameters = [
        ["config", "c", None, "Configuration file (default: ~/.mbsyncrc or XDG isyncrc)."],
        ["interval", "i", 300, "Seconds between full synchronizations.", float],
        ["quick-interval", None, 60, "Seconds between quick STATUS checks (0: none).", float],
        ["idle-renew", None, 29 * 60, "Seconds after which IDLE is re-issued.", float],
        ["max-connections", None, 4, "Connections per IMAP server, IDLE included.", int],
        ["post-sync-cmd", None, None, "Command run after each sync that changed something."],
        ["new-mail-cmd", None, None, "Command run after each sync that pulled new mail."],
        ["mailboxes-file", None, None, "Keep a mutt 'mailboxes' line for the near boxes here."],
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Twisted's usage.Options is untyped
        self["idle"] = []

    def opt_idle(self, boxes: str) -> None:
        """
        IDLE on these far boxes (comma-separated patterns as in Patterns;
        repeatable; default INBOX).
        """
        self["idle"].extend(each for each in boxes.split(",") if each)

    def opt_version(self) -> None:
        """
        Print msync's version and exit.
        """
        print(f"msync {__version__}")
        sys.exit(0)

    def parseArgs(self, *targets: str) -> None:
        """
        Keep the channel and group names given after the options.
        """
        self["targets"] = list(targets)

    def postOptions(self) -> None:
        """
        Check that something is to be synchronized, and the numbers.
        """
        if not self["all"] and not self["targets"]:
            raise usage.UsageError("name channels or groups to synchronize, or use --all")
        if self["interval"] < 1:
            raise usage.UsageError("--interval must be at least 1 second")
        if self["quick-interval"] < 0:
            raise usage.UsageError("--quick-interval must not be negative")
        if self["idle-renew"] < 10:
            raise usage.UsageError("--idle-renew must be at least 10 seconds")
        if self["max-connections"] < 1:
            raise usage.UsageError("--max-connections must be at least 1")
        # -D alone: all debug output; -Dn, -Dm ...: those categories (as
        # msync -D); getopt sees -Dn as -D -n.
        letters = "".join(
            letter
            for letter, name in (("n", "net"), ("d", "drivers"), ("m", "maildir"), ("s", "sync"))
            if self[f"debug-{name}"]
        )
        self["debug"] = letters or ("*" if self["debug"] else None)

    def settings(self) -> DaemonSettings:
        """
        The daemon settings the options describe.
        """
        return DaemonSettings(
            interval=self["interval"],
            quick_interval=self["quick-interval"],
            idle=not self["no-idle"],
            idle_patterns=tuple(self["idle"]) or ("INBOX",),
            idle_renew=self["idle-renew"],
            idle_check=min(5 * 60, self["idle-renew"]),
            local=not self["no-local-watch"],
            max_connections=self["max-connections"],
            post_sync_cmd=self["post-sync-cmd"],
            new_mail_cmd=self["new-mail-cmd"],
            mailboxes_file=self["mailboxes-file"],
        )


def log_predicate(level: LogLevel, debug: str | None) -> Any:
    """
    Which events the daemon logs: C{level} and above, plus the debug events
    of the C{-D} categories.
    """
    namespaces: tuple[str, ...] = ()
    if debug is not None:
        if "*" in debug:
            namespaces = ("",)
        else:
            for letter in debug:
                namespaces += DEBUG_CATEGORIES.get(letter, ())

    def predicate(event: LogEvent) -> PredicateResult:
        event_level = event.get("log_level", LogLevel.info)
        if event_level >= level:
            return PredicateResult.maybe  # type: ignore[no-any-return]  # Twisted's constants are untyped
        if event_level == LogLevel.debug:
            namespace = event.get("log_namespace", "")
            if any(namespace.startswith(each) for each in namespaces):
                return PredicateResult.maybe  # type: ignore[no-any-return]  # Twisted's constants are untyped
        return PredicateResult.no  # type: ignore[no-any-return]  # as above

    return predicate


def daemon_observer(stream: IO[str], options: Options) -> ILogObserver:
    """
    The daemon's log observer: text lines on C{stream}, filtered by
    C{-q}/C{-D}.
    """
    level = LogLevel.error if options["quiet"] else LogLevel.info
    if options["debug"] is not None:
        level = LogLevel.info if not options["quiet"] else level
    return FilteringLogObserver(
        textFileLogObserver(stream), [log_predicate(level, options["debug"])]
    )


def _state_dir(environ: dict[str, str] | os._Environ[str]) -> str:
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "msync")


def sd_notify(state: bytes, environ: Any = None) -> bool:
    """
    Tell systemd C{state} (C{Type=notify}) when C{NOTIFY_SOCKET} is set.

    @return: whether a message was sent.
    """
    environ = os.environ if environ is None else environ
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state)
    except OSError:
        return False
    return True


class DaemonService(Service):
    """
    The msync daemon as a twistd service.
    """

    name = "msync"

    def __init__(self, daemon: Daemon, options: Options, reactor: Any) -> None:
        self.daemon = daemon
        self.options = options
        self.reactor = reactor
        self._previous_usr1: Any = None

    def setServiceParent(self, parent: Any) -> None:  # noqa: N802
        """
        Also give twistd's application the daemon's log observer, so that
        twistd neither opens C{twistd.log} nor logs the wire trace.
        """
        set_component = getattr(parent, "setComponent", None)
        if set_component is not None and getattr(parent, "getComponent", None):
            if parent.getComponent(ILogObserver, None) is None:
                set_component(ILogObserver, daemon_observer(self._log_stream(), self.options))
        super().setServiceParent(parent)  # type: ignore[no-untyped-call]  # Twisted's Service is untyped

    def _log_stream(self) -> IO[str]:
        server = self.options.parent
        logfile = server.get("logfile") if server is not None else None
        nodaemon = server.get("nodaemon", True) if server is not None else True
        if logfile == "-" or (not logfile and nodaemon):
            return sys.stdout
        if not logfile:
            directory = _state_dir(os.environ)
            os.makedirs(directory, exist_ok=True)
            logfile = os.path.join(directory, "msync.log")
        return open(logfile, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the daemon

    def startService(self) -> None:  # noqa: N802
        """
        Start the daemon; SIGUSR1 means a full sync now.
        """
        super().startService()  # type: ignore[no-untyped-call]  # as above
        self.daemon.start()
        if hasattr(signal, "SIGUSR1") and hasattr(self.reactor, "callFromThread"):
            try:
                self._previous_usr1 = signal.signal(
                    signal.SIGUSR1,
                    lambda *_: self.reactor.callFromThread(self.daemon.full_sync_now),
                )
            except ValueError:  # pragma: no cover - not the main thread
                self._previous_usr1 = None
        sd_notify(b"READY=1")

    def stopService(self) -> Deferred[None]:  # noqa: N802
        """
        Stop within ~5 seconds: see L{Daemon.stop}.
        """
        super().stopService()  # type: ignore[no-untyped-call]  # as above
        sd_notify(b"STOPPING=1")
        # Twisted re-raises SIGTERM/SIGINT after shutdown (exit status
        # 128+n); a daemon asked to stop that stopped cleanly exits 0.
        if getattr(self.reactor, "_exitSignal", None) is not None:
            self.reactor._exitSignal = None
        if self._previous_usr1 is not None:
            signal.signal(signal.SIGUSR1, self._previous_usr1)
            self._previous_usr1 = None
        return Deferred.fromCoroutine(self.daemon.stop())


def _no_files_in_cwd(options: Options) -> None:
    """
    twistd writes C{twistd.pid} in the current directory by default: keep
    it only when asked for with C{--pidfile}; a daemonized run keeps its
    pid file in the XDG state directory.
    """
    server = options.parent
    if server is None or "pidfile" not in server:
        return
    asked = any(arg.startswith("--pidfile") for arg in sys.argv)
    if asked or server["pidfile"] != os.path.abspath("twistd.pid"):
        return
    if server.get("nodaemon"):
        server["pidfile"] = ""
    else:
        directory = _state_dir(os.environ)
        os.makedirs(directory, exist_ok=True)
        server["pidfile"] = os.path.join(directory, "msync.pid")


def makeService(options: Options, reactor: Any = None) -> IService:  # noqa: N802
    """
    Build the msync daemon service from parsed C{twistd msync} options.

    @param reactor: the reactor (default: the global one, as twistd runs it).
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    _no_files_in_cwd(options)
    settings = options.settings()
    backend = RunnerBackend(reactor, options["config"], options["targets"], options["all"])
    hooks = HookQueue(reactor) if settings.post_sync_cmd or settings.new_mail_cmd else None
    daemon = Daemon(
        reactor,
        settings,
        backend,
        hooks,
        random.random,
        local_watch=lambda on_change: local_watch(reactor, settings.local_poll, on_change),
    )
    return cast(IService, DaemonService(daemon, options, reactor))
