# -*- test-case-name: tests.test_cli -*-
"""
The C{msync} command: mbsync 1.4's command line, configuration loading,
target selection and exit status.

Invariants:
  - L{msync.cmdline.parse_arguments} (the option grammar, L1) is
    pure and reproduces mbsync 1.4.4's hand-written option grammar (not
    getopt): options end at the first operand or C{--}; short options
    cluster (C{-lqV}); C{-C}/C{-R}/C{-X} take at most one suffix letter,
    C{-L}/C{-H} any number of type letters, C{-D}/C{-T} the rest of their
    word; C{-c} takes the I{next} word;
  - every message, stream and exit status matches mbsync's (checked against
    the installed C{mbsync 1.4.4}, see C{tests/test_cli.py} and
    msync(1));
  - only L{main} touches the process (argv, environment, streams, exit) and
    the global reactor, and the reactor only for the asynchronous part.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import importlib
import io
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from types import CoroutineType, FrameType, GeneratorType, ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from msync import load_lazily
from msync.cmdline import (
    LEGACY_TYPE_NOTICES,
    Action,
    CommandLine,
    DebugCategory,
    parse_arguments,
    usage_text,
    version_text,
)
from msync.compat import COMPAT_VARIABLE, Generation, config_notices_15, parse_generation
from msync.compatprobe import Decision, decide, run_meanwhile
from msync.config.load import config_path_15, default_config_path, load_config
from msync.config.schema import Config, IMAPStore, SSLType, Store
from msync.errors import ConfigError, UsageError
from msync.migrate import migrate_names
from msync.plan import (
    NO_CHANNEL_SPECIFIED,
    NO_CHANNELS_DEFINED,
    NO_CHANNELS_DEFINED_15,
    ChannelJob,
    select_jobs,
)
from msync.records import record
from msync.report import (
    DEFAULT_COLUMNS,
    Counters,
    OutputPolicy,
    ProgressDisplay,
    Severity,
    Stream,
    columns_from,
    json_event,
    show_progress,
    summary_fields,
)

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.logger import ILogObserver

    from msync.reactor import MailReactor

    React = Callable[[Callable[[Any], Deferred[None]]], NoReturn]
    """The shape of L{twisted.internet.task.react} as L{main} uses it."""

#: What the C{msync} command imports only once the command line and the
#: configuration are read (L{main}, L{execute}): Twisted, the runner and
#: the stores. A run whose stores never speak TLS then loads Twisted
#: without TLS support (L{install_reactor_without_tls}), and the
#: collector does not run while they load. A process that forks runs
#: (C{tests/integration/forkserver.py}) imports them beforehand.
LATE_MODULES = (
    "twisted.internet.defer",
    "twisted.internet.task",
    "twisted.logger",
    "zope.interface",
    "msync.runner",
    "msync.stores.imapnames",
    "msync.sync.statelock",
)

#: Modules that Twisted imports but a run does not use (or only in rare
#: paths: a PTY, UDP or UNIX sockets, a qualified name through pickle,
#: reconnection delays, an IP address in a URL), loaded lazily
#: (L{msync.load_lazily}) while Twisted loads: a module runs at the first
#: read of one of its names. Never C{twisted.internet.ssl}, which the
#: reactor must find missing without TLS (L{install_reactor_without_tls}),
#: nor C{twisted.internet.process}, which the reactor uses as it starts.
LAZY_MODULES = (
    "fnmatch",
    "ipaddress",
    "pickle",
    "pty",
    "random",
    "textwrap",
    "twisted.internet.udp",
    "twisted.internet.unix",
)

__all__ = [
    "Output",
    "Prepared",
    "execute",
    "main",
    "prepare",
]


class Output:
    """
    Writes messages where mbsync would, honouring C{-q}/C{-V} and keeping
    the progress line intact.

    @ivar stdout: standard output.
    @ivar stderr: standard error.
    @ivar policy: which message classes are shown.
    @ivar progress: the progress line state.
    """

    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        policy: OutputPolicy | None = None,
        progress: ProgressDisplay | None = None,
        *,
        json: bool = False,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.policy = policy or OutputPolicy()
        self.progress = progress or ProgressDisplay(enabled=False)
        self.json = json
        self.counters: Counters | None = None

    def event(self, kind: str, **fields: object) -> None:
        """
        With C{--json}, write one event as a line of JSON on stdout (the
        schema is in C{docs/json.md}); otherwise do nothing.

        @param kind: the event's C{"event"} member.
        @param fields: its other members.
        """
        if self.json:
            self.stdout.write(json_event(kind, **fields) + "\n")
            self.stdout.flush()

    def emit(self, severity: Severity, text: str) -> None:
        """
        Print one message (one or more lines) if the policy shows it. With
        C{--json} it becomes a C{message} event on stdout, warnings and
        errors going to stderr as text as well.

        @param severity: the message class.
        @param text: the message without trailing newline.
        """
        if not self.policy.shows(severity):
            return
        if self.json:
            self.event("message", severity=severity.value, text=text)
            if severity.stream is Stream.STDOUT:
                return
        self.stdout.write(self.progress.interrupt())
        self.stdout.flush()
        stream = self.stdout if severity.stream is Stream.STDOUT else self.stderr
        stream.write(text + "\n")
        stream.flush()

    def print_line(self, text: str) -> None:
        """
        Print a result line (C{-l} output, C{--dry-run} plans) on stdout,
        whatever C{-q} says; with C{--json}, as an C{output} event.

        @param text: the line without trailing newline.
        """
        if self.json:
            self.event("output", text=text)
            return
        self.stdout.write(self.progress.interrupt())
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def show_progress(self, counters: Counters) -> None:
        """
        Redraw the progress line, when it is shown at all.

        @param counters: the run's counters.
        """
        self.counters = counters
        text = self.progress.update(counters)
        if text:
            self.stdout.write(text)
            self.stdout.flush()

    def finish(self) -> None:
        """
        End a visible progress line.
        """
        self.stdout.write(self.progress.finish())
        self.stdout.flush()


@record
class Prepared:
    """
    Everything decided before any store is touched.

    @ivar command: the command line.
    @ivar config: the configuration.
    @ivar jobs: the selected channels.
    @ivar status: the exit status so far (1 when some operand was bad).
    @ivar decision: the mbsync generation followed (L{msync.compatprobe}).
    @ivar stores: the stores C{--list-stores} lists.
    """

    command: CommandLine
    config: Config
    jobs: tuple[ChannelJob, ...]
    status: int
    decision: Decision | None = None
    stores: tuple[Store, ...] = ()


def prepare(
    argv: Sequence[str],
    output: Output,
    environ: Mapping[str, str],
    exists: Callable[[str], bool] = os.path.exists,
) -> Prepared | int:
    """
    The synchronous part of C{msync}: arguments, configuration, targets.

    @param argv: the arguments without the program name.
    @param output: where messages go (its policy is set from the options).
    @param environ: the environment (C{HOME}, C{XDG_CONFIG_HOME}, C{COLUMNS}).
    @param exists: whether a path exists (for the default configuration).
    @return: the exit status when done already (help, version, errors),
        else what the asynchronous part needs.
    """
    try:
        command = parse_arguments(argv, environ.get(COMPAT_VARIABLE))
    except UsageError as error:
        output.emit(Severity.ERROR, str(error))
        return 1
    if command.action in (Action.HELP, Action.VERSION):
        texts = _stop_texts(_explicit_generation(command, environ))
        output.stdout.write(texts[command.action])
        return 0
    output.policy = OutputPolicy(verbose=command.verbose, quiet=command.quiet)
    output.json = command.json
    for notice in command.notices:
        output.emit(Severity.WARNING, notice)
    # isync 1.5 prints its notices for -N/-d as it parses them, before
    # reading the configuration; when 1.5 is only found from the files,
    # they come with the configuration's notices.
    early = _explicit_generation(command, environ) is Generation.V15
    if early:
        for name in command.legacy_types:
            output.emit(Severity.WARNING, LEGACY_TYPE_NOTICES[name])
    path = command.config
    if early:
        home = environ.get("HOME") or os.path.expanduser("~")
        path, warning = config_path_15(path, home, environ, exists)
        if warning is not None:
            output.emit(Severity.WARNING, warning)
    elif path is None:
        home = environ.get("HOME") or os.path.expanduser("~")
        path = default_config_path(home, environ, exists)
    output.emit(Severity.INFO, f"Reading configuration file {path}")
    try:
        config = load_config(path, environ)
    except ConfigError as first:
        reported: ConfigError | None = first
        # Options that only isync 1.5 merges without a conflict
        # (Sync PullOld Pull): the rule decides with its reading; else the
        # errors are reported as isync 1.5 reports them when it is chosen
        # explicitly (the rest of the rule needs a configuration that loads).
        try:
            config = load_config(path, environ, isync15=True)
        except ConfigError as again:
            if _explicit_generation(command, environ) is Generation.V15:
                reported = again
        else:
            reported = None
        if reported is not None:
            # mbsync reports every error in the file, one per line, then exits 1.
            for each in reported.errors:
                output.emit(Severity.ERROR, _config_error_text(each))
            return 1
    home = environ.get("HOME") or os.path.expanduser("~")
    try:
        # While mbsync answers (when it is asked), load what the early
        # connection needs next (start_connecting).
        meanwhile = run_meanwhile(functools.partial(_load_early_talk, command, config))
        decision = decide(config, path, command.compat, environ, home, run=meanwhile)
    except UsageError as error:
        output.emit(Severity.ERROR, str(error))
        return 1
    output.emit(Severity.INFO, decision.choice.describe())
    if decision.choice.generation is Generation.V14 and command.isync15_only:
        # mbsync 1.4.4 does not know isync 1.5's options.
        output.emit(Severity.ERROR, f"Unknown option '{command.isync15_only[0]}'")
        return 1
    # Read again as the generation does: isync 1.5 reads relative paths
    # from the configuration file's directory; mbsync 1.4.4 refuses isync
    # 1.5's channel options. The file was read already, so this fails
    # only for those options (or if it changed meanwhile).
    isync15 = decision.choice.generation is Generation.V15
    try:
        config = load_config(path, environ, isync15=isync15, isync14=not isync15)
    except ConfigError as error:
        for each in error.errors:
            output.emit(Severity.ERROR, _config_error_text(each))
        return 1
    # mbsync prints configuration notices with warn(): stderr, hidden by -qq.
    for message in _notices(command, config, path, decision.choice.generation, early):
        output.emit(Severity.WARNING, message)
    if command.migrate_names:
        return _migrate(command, config, environ, home, output)
    if decision.error is not None and _default_state(config, home):
        output.emit(Severity.ERROR, f"Error: {decision.error}")
        return 1
    if command.action is Action.LIST_STORES:
        return _store_selection(command, config, decision, output)
    selection = select_jobs(config, command.targets, all_channels=command.all_channels)
    isync15 = decision.choice.generation is Generation.V15
    for message in _selection_errors_15(selection.errors) if isync15 else selection.errors:
        output.emit(Severity.ERROR, message)
    if not selection.jobs or (isync15 and selection.errors):
        # isync 1.5 syncs nothing when any operand is bad.
        return 1
    return Prepared(command, config, selection.jobs, 1 if selection.errors else 0, decision)


def _selection_errors_15(errors: Sequence[str]) -> list[str]:
    """
    isync 1.5's words for the operand errors: a bad operand is the only
    message (no C{No channel specified} after it), and a file without
    channels points at the C{msync} manual.
    """
    bad = [error for error in errors if error != NO_CHANNEL_SPECIFIED]
    return [NO_CHANNELS_DEFINED_15 if e == NO_CHANNELS_DEFINED else e for e in bad or errors]


def _explicit_generation(command: CommandLine, environ: Mapping[str, str]) -> Generation | None:
    """
    The generation chosen explicitly (C{--compat}, else C{MSYNC_COMPAT}),
    if any and valid (an invalid one is reported once the configuration
    is read, by L{decide}).
    """
    asked = command.compat or environ.get(COMPAT_VARIABLE)
    if not asked:
        return None
    try:
        return parse_generation(asked, "--compat")
    except UsageError:
        return None


def _stop_texts(generation: Generation | None) -> dict[Action, str]:
    """
    What C{-h} and C{-v} print: the texts of the generation chosen
    explicitly (C{--compat} before them, or C{MSYNC_COMPAT}); without an
    explicit choice (nothing else is looked at before they act),
    mbsync 1.4's.
    """
    generation = generation or Generation.V14
    return {
        Action.HELP: usage_text(generation),
        Action.VERSION: version_text(generation) + "\n",
    }


def _store_selection(
    command: CommandLine, config: Config, decision: Decision, output: Output
) -> Prepared | int:
    """
    The stores C{--list-stores} names (all without operands), with
    isync 1.5's errors for unknown ones.
    """
    if not config.stores:
        output.emit(Severity.ERROR, "No stores defined.")
        return 1
    stores = []
    for name in command.targets or [store.name for store in config.stores]:
        found = next((store for store in config.stores if store.name == name), None)
        if found is None:
            output.emit(Severity.ERROR, f"No store named '{name}' defined.")
        else:
            stores.append(found)
    if len(stores) != len(command.targets or config.stores):
        return 1
    return Prepared(command, config, (), 0, decision, tuple(stores))


def _notices(
    command: CommandLine, config: Config, path: str, generation: Generation, printed: bool
) -> list[str]:
    """
    The notices and warnings after reading the configuration; following
    1.5, with 1.5's notices for the old spellings (command line first,
    unless C{printed} already).
    """
    if generation is Generation.V14:
        return [*config.notices, *config.warnings]
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            early, late = config_notices_15(handle.read())
    except OSError:
        early, late = (), ()
    options = [] if printed else [LEGACY_TYPE_NOTICES[name] for name in command.legacy_types]
    return [*options, *early, *config.notices, *late, *config.warnings]


def _migrate(
    command: CommandLine, config: Config, environ: Mapping[str, str], home: str, output: Output
) -> int:
    """
    C{--migrate-names}: toward 1.4's names when 1.4 was asked for
    explicitly, else toward 1.5's (docs/compat.md).
    """
    asked = command.compat or environ.get(COMPAT_VARIABLE) or Generation.V15.value
    target = parse_generation(asked, "--compat")
    xdg = environ.get("XDG_STATE_HOME") or home.rstrip("/") + "/.local/state"
    defaults = [home.rstrip("/") + "/.mbsync/", xdg.rstrip("/") + "/isync/"]
    return migrate_names(config, target, defaults, output.print_line)


def _default_state(config: Config, home: str) -> bool:
    """
    Whether the configuration leaves the global C{SyncState} at its
    default (read as mbsync 1.4's C{~/.mbsync/}).
    """
    return config.global_options.sync_state.path == home.rstrip("/") + "/.mbsync/"


def _config_error_text(error: ConfigError) -> str:
    """
    mbsync words an unreadable file C{Cannot open config file 'F': reason};
    everything else is C{file:line: reason}, or just the reason for what
    mbsync finds at the end of a section or of the file.

    @param error: one error (an element of L{ConfigError.errors}).
    """
    prefix = "Cannot read config file: "
    if error.line is None and error.reason.startswith(prefix):
        return f"Cannot open config file '{error.filename}': {error.reason[len(prefix) :]}"
    return str(error)


async def execute(reactor: MailReactor, prepared: Prepared, output: Output) -> int:
    """
    The asynchronous part: list or synchronize the selected channels.

    Both actions are carried out by L{msync.runner}.

    @param reactor: the reactor the stores will use.
    @param prepared: the result of L{prepare}.
    @param output: where messages go.
    @return: the exit status.
    """
    from msync.runner import SyncRequest, default_store_factory, list_channels, sync_channels
    from msync.stores.imapnames import names_for
    from msync.sync.statelock import JournalTesting

    decision = prepared.decision
    generation = decision.choice.generation if decision is not None else Generation.V14
    names = names_for(generation)
    # Cutting the server's data into trace lines costs time: only for -Dn.
    trace = DebugCategory.NET in prepared.command.debug
    testing = prepared.command.testing
    factory = default_store_factory(
        prepared.config,
        reactor,
        names,
        maildir_async=testing.async_driver,
        maildir_mtime_wait=not testing.no_mtime_wait,
        trace=trace,
        isync15=generation is Generation.V15,
    )
    if prepared.command.action is Action.LIST_STORES:
        from msync.storelist import list_stores

        return await list_stores(prepared.stores, factory, output)
    if prepared.command.action is Action.LIST:
        status = await list_channels(prepared.jobs, factory, output, names)
        return max(status, prepared.status)
    request = SyncRequest(
        overrides=prepared.command.overrides,
        dry_run=prepared.command.dry_run,
        verbose=prepared.command.verbose,
        generation=generation,
        summary=generation is Generation.V15 and prepared.command.quiet == 0,
        ext_exit=prepared.command.ext_exit,
        parallel=prepared.command.parallel,
        state_directory=(
            decision.state_directory
            if decision is not None and generation is Generation.V15
            else None
        ),
        journal_testing=JournalTesting(
            keep_journal=testing.keep_journal, limit=testing.journal_limit
        ),
    )
    status = await sync_channels(prepared.config, prepared.jobs, factory, request, output)
    return max(status, prepared.status)


def terminal_columns(stream: TextIO, columns: str | None) -> int:
    """
    The width the progress line must fit: C{COLUMNS} when set (as mbsync
    reads it), else the terminal's own width (shells rarely export
    C{COLUMNS}; mbsync then assumes 80 and a narrower terminal wraps).

    @param stream: standard output.
    @param columns: the C{COLUMNS} environment variable, or C{None}.
    """
    if columns is not None:
        return columns_from(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_COLUMNS
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return DEFAULT_COLUMNS


def resize_handler(output: Output) -> Callable[[int, FrameType | None], None]:
    """
    The SIGWINCH handler: the progress line takes the terminal's new width
    from its next redraw on.

    @param output: whose progress line follows the terminal.
    @return: the handler.
    """

    def handle(signum: int, frame: FrameType | None) -> None:
        output.progress.columns = terminal_columns(output.stdout, None)

    return handle


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    react: React | None = None,
    collecting: bool | None = None,
) -> NoReturn:
    """
    The C{msync} console script: run and exit with mbsync's status
    (0 success, 1 any error).

    @param argv: the arguments without the program name (default C{sys.argv[1:]}).
    @param stdout: standard output (default C{sys.stdout}).
    @param stderr: standard error (default C{sys.stderr}).
    @param environ: the environment (default C{os.environ}).
    @param react: runs the asynchronous part on the reactor and exits
        (default L{twisted.internet.task.react}; replaceable for tests).
    @param collecting: whether the cyclic collector is to run once start-up
        is over, for a caller that turned it off before importing this
        module (L{msync.__main__}); default: whether it runs now.
    @raise SystemExit: always.
    """
    if react is None:
        # The cyclic collector stays off while the configuration is read
        # and Twisted and the rest load (nothing they make is garbage; it
        # ran a few dozen times), then what start-up made (modules,
        # classes, the configuration), which lives as long as the process,
        # is moved out of its sight: it is not traversed again at every
        # full collection nor at exit (a no-op run spent a fifth of its
        # time in the collection at exit).
        collecting = gc.isenabled() if collecting is None else collecting
        gc.disable()
    out = sys.stdout if stdout is None else stdout
    environment = os.environ if environ is None else environ
    output = Output(out, sys.stderr if stderr is None else stderr)
    if react is None and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        # Installed before the reactor starts, so Twisted leaves it in place;
        # an ignored SIGINT (nohup, background jobs) stays ignored.
        signal.signal(signal.SIGINT, interrupt_handler(output))
    prepared = prepare(sys.argv[1:] if argv is None else argv, output, environment)
    if isinstance(prepared, int):
        output.event("summary", **summary_fields(prepared, None))
        out.flush()
        sys.exit(prepared)
    output.progress = ProgressDisplay(
        enabled=show_progress(
            is_tty=out.isatty(),
            quiet=prepared.command.quiet,
            debugging=bool(prepared.command.debug),
        )
        and not prepared.command.json,
        columns=terminal_columns(out, environment.get("COLUMNS")),
        isync15=prepared.decision is not None
        and prepared.decision.choice.generation is Generation.V15,
    )

    if react is None and output.progress.enabled and "COLUMNS" not in environment:
        # Follow the terminal's width as it is resized.
        signal.signal(signal.SIGWINCH, resize_handler(output))
    if react is None:
        start_connecting(prepared)
        for name in LAZY_MODULES:
            load_lazily(name)
        with asyncio_stand_in():
            if not uses_tls(prepared.config):
                install_reactor_without_tls()
            for name in LATE_MODULES:
                importlib.import_module(name)
        from twisted.logger import globalLogBeginner

        globalLogBeginner.beginLoggingTo(
            [store_message_observer(output, debug=prepared.command.debug)],
            redirectStandardIO=False,
        )
        gc.freeze()
        if collecting:
            gc.enable()
    from twisted.internet.defer import Deferred

    async def run(reactor: Any) -> None:
        status = max(prepared.status, await execute(reactor, prepared, output))
        output.finish()
        listing = prepared.command.action is Action.LIST
        output.event("summary", **summary_fields(status, None if listing else output.counters))
        if status:
            raise SystemExit(status)

    (react or _react)(lambda reactor: Deferred.fromCoroutine(run(reactor)))


INTERRUPTED = (
    "msync: interrupted (Ctrl-C); stopping. Work done so far is kept: "
    "the next run goes on from there."
)
"""What msync says when Ctrl-C (SIGINT) stops it."""


def interrupt_handler(
    output: Output,
    kill: Callable[[int, int], None] = os.kill,
    pid: Callable[[], int] = os.getpid,
) -> Callable[[int, FrameType | None], None]:
    """
    The SIGINT handler: say that the user interrupted msync (not that a
    connection was lost), then die of the signal as mbsync does, so the
    shell sees status 130. The sync state needs nothing more: every
    change is journaled before it is made, as for any other abrupt end.

    @param output: where the message goes (the progress line is ended first).
    @param kill: sends the signal again (replaceable for tests).
    @param pid: this process's id.
    @return: the handler.
    """

    def handle(signum: int, frame: FrameType | None) -> None:
        output.finish()
        output.emit(Severity.ERROR, INTERRUPTED)
        output.event("summary", **summary_fields(128 + signum, output.counters), interrupted=True)
        signal.signal(signum, signal.SIG_DFL)
        kill(pid(), signum)

    return handle


_LEVELS = {
    "info": Severity.NOTICE,
    "warn": Severity.WARNING,
    "error": Severity.ERROR,
    "critical": Severity.ERROR,
}
"""The message class of a log event, by its level's name."""


_NAMESPACE_CATEGORIES: tuple[tuple[str, DebugCategory], ...] = (
    ("msync.imap.protocol", DebugCategory.NET),
    ("msync.imap.connection", DebugCategory.NET),
    ("msync.imap.endpoint", DebugCategory.NET),
    ("msync.imap", DebugCategory.DRIVER),
    ("msync.stores.imap", DebugCategory.DRIVER),
    ("msync.stores.credentials", DebugCategory.DRIVER),
    ("msync.stores.maildir", DebugCategory.MAILDIR),
    ("msync.stores", DebugCategory.DRIVER),
    ("msync.sync", DebugCategory.SYNC),
)
"""Which C{-D} category shows a module's debug events (first prefix wins);
every other module's events are C{main}."""


def debug_category(namespace: str) -> DebugCategory:
    """
    The C{-D} category of a log namespace: C{-Dn} shows the IMAP wire
    trace, C{-Dd} the IMAP driver, C{-Dm} the Maildir driver, C{-Ds} the
    synchronizer, C{-DM} everything else.

    @param namespace: a Twisted log namespace (a module name).
    @return: the category.
    """
    for prefix, category in _NAMESPACE_CATEGORIES:
        if namespace == prefix or namespace.startswith(prefix):
            return category
    return DebugCategory.MAIN


def store_message_observer(
    output: Output, *, debug: frozenset[DebugCategory] = frozenset()
) -> ILogObserver:
    """
    Show the stores' notices and warnings as mbsync prints its drivers'
    (C{Maildir notice: ...} on stdout, warnings on stderr); debug events
    only for the C{-D} categories given; logged failures (tracebacks) with
    any C{-D}.

    @param output: where messages go.
    @param debug: the C{-D} categories.
    @return: the observer.
    """
    from twisted.logger import ILogObserver, LogEvent, formatEvent
    from zope.interface import implementer

    @implementer(ILogObserver)
    def observe(event: LogEvent) -> None:
        namespace = str(event.get("log_namespace", ""))
        level = event.get("log_level")
        severity = _LEVELS.get(level.name) if level is not None else None
        # Format only what is shown: the wire trace is logged at debug level
        # for every command and read, and formatting it all costs seconds.
        if event.get("msync_verbose"):
            # mbsync's -V progress lines from the IMAP layers (Connecting...).
            output.emit(Severity.INFO, formatEvent(event))
        elif namespace.startswith("msync.stores") and severity is not None:
            output.emit(severity, formatEvent(event))
        elif not debug:
            return
        elif event.get("log_failure") is not None:
            output.emit(Severity.INFO, formatEvent(event))
            output.emit(Severity.ERROR, event["log_failure"].getTraceback())
        elif debug_category(namespace) in debug:
            output.emit(Severity.INFO, formatEvent(event))

    return cast(ILogObserver, observe)


def uses_tls(config: Config) -> bool:
    """
    Whether some IMAP store of the configuration may speak TLS (C{SSLType}
    C{IMAPS} or C{STARTTLS}, the default).
    """
    return any(
        isinstance(store, IMAPStore) and store.account.ssl_type is not SSLType.NONE
        for store in config.stores
    )


def _talks_early(command: CommandLine) -> bool:
    """
    Whether a run with this command line may connect before Twisted loads
    (L{start_connecting}): not with C{-V} or C{-D}, only to sync or list.
    """
    return not (
        command.verbose or command.debug or command.action not in (Action.SYNC, Action.LIST)
    )


def _early_account(store: Store) -> bool:
    """
    Whether L{start_connecting} connects to C{store} early: an IMAP store
    with a C{Host}, plain or C{STARTTLS}, without C{Tunnel}.
    """
    if not isinstance(store, IMAPStore):
        return False
    account = store.account
    plain = account.ssl_type in (SSLType.NONE, SSLType.STARTTLS)
    return plain and account.tunnel is None and bool(account.host)


def _load_early_talk(command: CommandLine, config: Config) -> None:
    """
    Import what L{start_connecting} will use, if some store of C{config}
    may be connected early (the modules are the IMAP client's, which a run
    with an IMAP store imports anyway).
    """
    if _talks_early(command) and any(_early_account(store) for store in config.stores):
        importlib.import_module("msync.imap.preconnect")


def start_connecting(prepared: Prepared) -> None:
    """
    Start the TCP connections to the plain and STARTTLS IMAP servers of
    the selected channels before Twisted and the rest load
    (L{msync.imap.preconnect}): the connection, the server's greeting and,
    for C{SSLType None}, the login (L{msync.imap.earlytalk}) overlap the
    loading. Not with C{-V} or C{-D}, whose lines say when msync
    resolves, connects and logs in; not for IMAPS (TLS from the first
    byte).

    @param prepared: the run's command line, configuration and channels.
    """
    if not _talks_early(prepared.command):
        return
    from msync.imap import preconnect
    from msync.imap.earlytalk import EarlyTalk

    for job in prepared.jobs:
        for side in (job.channel.far_store, job.channel.near_store):
            if isinstance(side, IMAPStore) and _early_account(side):
                account = side.account
                assert account.host is not None
                preconnect.start(
                    account.host,
                    account.port,
                    account.timeout or None,
                    talk=EarlyTalk.for_account(account),
                )


class _RefuseTLS:
    """
    An import finder (C{sys.meta_path}) that makes importing pyOpenSSL and
    the standard library's C{ssl} fail, as if they were not installed.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname in _NO_TLS or fullname.startswith("OpenSSL."):
            raise ImportError(f"{fullname}: not loaded, no store uses TLS")


_NO_TLS = frozenset({"OpenSSL", "ssl", "_ssl"})


def install_reactor_without_tls() -> None:
    """
    Install the default reactor without its TLS support, for a run whose
    stores never speak TLS: Twisted's reactor imports pyOpenSSL,
    cryptography and service_identity when they are installed (a good part
    of a run's start-up), and works without them, as when they are not;
    C{asyncio}, which C{twisted.internet.defer} imports, imports the
    standard library's C{ssl} (and OpenSSL's library with it) and works
    without it. Does nothing if a reactor is installed already.
    """
    if "twisted.internet.reactor" in sys.modules:
        return
    refuse = _RefuseTLS()
    sys.meta_path.insert(0, refuse)
    try:
        from twisted.internet import default

        default.install()
    finally:
        sys.meta_path.remove(refuse)


class _AsyncioStandIn(ModuleType):
    """
    Stands for C{asyncio} while Twisted loads (L{asyncio_stand_in}).

    C{twisted.internet.defer} does C{from asyncio import
    AbstractEventLoop, Future, iscoroutine}: the first two only in
    annotations (C{Deferred.asFuture}, C{fromFuture}, which msync never
    calls), the third to tell coroutines from other results. Loading
    C{asyncio} for that (with C{concurrent.futures}, C{logging} and a
    dozen modules of its own) was a tenth of a run's imports.
    """

    def __init__(self) -> None:
        super().__init__("asyncio", "msync's stand-in for asyncio while Twisted loads")
        self.AbstractEventLoop = type("AbstractEventLoop", (), {"__module__": "asyncio"})
        self.Future = type("Future", (), {"__module__": "asyncio"})
        self.iscoroutine = _iscoroutine

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            # The import system's questions (__path__: not a package).
            raise AttributeError(name)
        # Any other name (another Twisted, another importer): the real one.
        if sys.modules.get("asyncio") is self:
            del sys.modules["asyncio"]
        return getattr(importlib.import_module("asyncio"), name)


_COROUTINES = (CoroutineType, GeneratorType, Coroutine)


def _iscoroutine(value: object) -> bool:
    """
    C{asyncio.iscoroutine} of Python 3.11 (generators count, as there).
    """
    return isinstance(value, _COROUTINES)


@contextlib.contextmanager
def asyncio_stand_in() -> Iterator[None]:
    """
    While the block runs (Twisted loading), C{import asyncio} gives a
    L{_AsyncioStandIn} unless the real C{asyncio} is loaded already; once
    it ends, the real one is what C{import asyncio} loads again. What the
    stand-in does not have comes from the real module, loaded then.
    """
    if "asyncio" in sys.modules:
        yield
        return
    stand_in = _AsyncioStandIn()
    sys.modules["asyncio"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("asyncio") is stand_in:
            del sys.modules["asyncio"]


def _react(main: Callable[[Any], Deferred[None]]) -> NoReturn:
    """
    L{twisted.internet.task.react} with the global reactor; the one place
    msync starts it.

    Once the reactor has stopped (every store closed, every file written
    and closed), the process ends at once with the status, its output
    flushed and the C{atexit} functions run, as mbsync's does: tearing the
    interpreter down (freeing every
    object and module one by one) took 50–170 ms of each run. Not under a
    profiler or tracer (cProfile, coverage), which save their data at the
    normal exit.
    """
    from twisted.internet import task

    try:
        task.react(main)
    except SystemExit as done:
        watched = sys.getprofile() is not None or sys.gettrace() is not None
        if watched or not isinstance(done.code, int | None):
            raise
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(done.code or 0)
    raise AssertionError("task.react returned")  # it always exits
