# -*- test-case-name: tests.stores.test_credentials -*-
"""
The login name and password of an IMAP account: C{User} / C{UserCmd} and
C{Pass} / C{PassCmd}, or a terminal prompt, as mbsync 1.4 gets them.

Invariants:
  - Commands run as C{/bin/sh -c COMMAND} through C{reactor.spawnProcess};
    the reactor is never blocked (the prompt runs in a reactor thread).
  - Only the first line of a command's standard output counts, at most 8191
    bytes (mbsync's C{fgets} into 8192 bytes), without its newline.
  - C{PassCmd} runs again for every login: nothing is cached, because
    tokens expire.
  - Failures are L{StoreUnavailable} with mbsync's wording (C{Skipping
    account X, PassCmd exited with status N}); they may quote the command's
    standard error, never its standard output (the secret), and nothing here
    logs a secret or the command line (which may contain one).
  - A C{+}-prefixed (interactive) command gets the terminal: our stdin and
    stderr. Others get no stdin, and their stderr is collected.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from msync.config.schema import IMAPAccount, ShellCommand
from msync.errors import StoreUnavailable
from msync.model import Secret
from msync.reactor import MailReactor
from msync.records import record

__all__ = ["resolve_password", "resolve_user"]

log = Logger()

SHELL = "/bin/sh"
"""The shell commands run with, as by mbsync's C{popen}."""

LINE_LIMIT = 8191
"""The most bytes of a command's first line that count."""

_STDERR_LIMIT = 2048


@record
class _Outcome:
    """
    How a credential command ended.

    @ivar first_line: its first output line, or C{None} if it printed nothing.
    @ivar exit_code: its exit status, or C{None} if a signal killed it.
    @ivar stderr: what it wrote to stderr (capped), if collected.
    """

    first_line: bytes | None
    exit_code: int | None
    stderr: bytes


class _CommandOutput(ProcessProtocol):
    """
    Collects a command's first output line and stderr, and fires L{ended}
    when it exits. Output past the first line is read and dropped, so the
    command never blocks on a full pipe.
    """

    def __init__(self, interactive: bool) -> None:
        self._interactive = interactive
        self._stdout = bytearray()
        self._line_done = False
        self._stderr = bytearray()
        self.ended: Deferred[_Outcome] = Deferred(self._kill)

    def connectionMade(self) -> None:
        """
        A non-interactive command reads nothing: close its stdin.
        """
        if not self._interactive:
            assert self.transport is not None
            self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        """
        Keep bytes up to the first newline or L{LINE_LIMIT}.
        """
        if self._line_done:
            return
        self._stdout += data
        if b"\n" in self._stdout or len(self._stdout) >= LINE_LIMIT:
            self._line_done = True

    def errReceived(self, data: bytes) -> None:
        """
        Keep the start of stderr, for the error message.
        """
        self._stderr += data[: max(0, _STDERR_LIMIT - len(self._stderr))]

    def processEnded(self, reason: Failure) -> None:
        """
        Report the outcome (unless the wait was cancelled).
        """
        if self.ended.called:
            return
        exit_code = getattr(reason.value, "exitCode", None)
        if getattr(reason.value, "signal", None) is not None:
            exit_code = None
        first_line = None
        if self._stdout:
            first_line = bytes(self._stdout[:LINE_LIMIT]).split(b"\n", 1)[0]
        self.ended.callback(_Outcome(first_line, exit_code, bytes(self._stderr)))

    def _kill(self, ended: Deferred[_Outcome]) -> None:
        if self.transport is not None:
            try:
                self.transport.signalProcess("KILL")
            except ProcessExitedAlready:
                pass


def _stderr_note(stderr: bytes) -> str:
    """
    The command's stderr, on one line, to append to a message.
    """
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    text = "; ".join(line for line in lines if line)
    return f" (stderr: {text})" if text else ""


async def _run(
    reactor: MailReactor, account: IMAPAccount, option: str, command: ShellCommand
) -> str:
    """
    Run a C{UserCmd} or C{PassCmd} and return its first output line.

    @param option: C{"UserCmd"} or C{"PassCmd"}, for messages.
    @raise StoreUnavailable: if it cannot start, exits non-zero, is killed
        by a signal, or prints nothing.
    """
    skipping = f"Skipping account {account.name}, {option}"
    output = _CommandOutput(command.interactive)
    # "+": the command talks to the user (mbsync flushes its output first).
    child_fds: dict[int, int | str] = (
        {0: 0, 1: "r", 2: 2} if command.interactive else {0: "w", 1: "r", 2: "r"}
    )
    log.debug("{account}: running {option}", account=account.name, option=option)
    try:
        reactor.spawnProcess(
            output,
            SHELL,
            [SHELL, "-c", command.command],
            env=dict(os.environ),
            childFDs=child_fds,
        )
    except OSError as error:
        raise StoreUnavailable(f"{skipping} failed: {error.strerror or error}") from None
    outcome = await output.ended
    note = _stderr_note(outcome.stderr)
    if outcome.exit_code is None:
        raise StoreUnavailable(f"{skipping} crashed{note}")
    if outcome.exit_code != 0:
        raise StoreUnavailable(f"{skipping} exited with status {outcome.exit_code}{note}")
    if outcome.first_line is None:
        raise StoreUnavailable(f"{skipping} produced no output{note}")
    # Like mbsync, an empty first line ("\n") is an empty value, not an error.
    return outcome.first_line.decode("utf-8", "surrogateescape")


async def resolve_user(account: IMAPAccount, reactor: MailReactor) -> str:
    """
    The login name: C{User}, else the first line printed by C{UserCmd}.

    @param account: the account.
    @param reactor: runs C{UserCmd}.
    @return: the user name.
    @raise StoreUnavailable: C{Skipping account X, no user}, or the command
        failed (see L{resolve_password}).
    """
    if account.user is not None:
        return account.user
    if account.user_cmd is not None:
        return await _run(reactor, account, "UserCmd", account.user_cmd)
    raise StoreUnavailable(f"Skipping account {account.name}, no user")


def _stdin_is_terminal() -> bool:
    """
    Whether our stdin is a terminal (a daemon may have none at all).
    """
    stdin = sys.stdin
    try:
        return stdin is not None and not stdin.closed and stdin.isatty()
    except (OSError, ValueError):
        return False


async def resolve_password(
    account: IMAPAccount,
    reactor: MailReactor,
    *,
    ask: Callable[[str], str] = getpass.getpass,
    is_terminal: Callable[[], bool] = _stdin_is_terminal,
) -> Secret:
    """
    The password: C{Pass}, else the first line printed by C{PassCmd} (run
    anew on every call), else what the user types at C{Password (X): } if
    stdin is a terminal.

    @param account: the account.
    @param reactor: runs C{PassCmd}, or the prompt in its thread pool.
    @param ask: reads a password after showing a prompt, without echo.
    @param is_terminal: whether prompting is possible.
    @return: the password.
    @raise StoreUnavailable: C{Skipping account X, PassCmd exited with status
        N (stderr: ...)}, C{... PassCmd crashed}, C{... PassCmd produced no
        output}, or C{Skipping account X, no password} (nothing configured
        and no terminal, or nothing typed).
    """
    if account.password is not None:
        return account.password
    if account.pass_cmd is not None:
        return Secret(await _run(reactor, account, "PassCmd", account.pass_cmd))
    no_password = StoreUnavailable(f"Skipping account {account.name}, no password")
    if not is_terminal():
        raise no_password
    try:
        typed = await deferToThreadPool(
            IReactorFromThreads(reactor),
            reactor.getThreadPool(),
            ask,
            f"Password ({account.name}): ",
        )
    except EOFError:
        raise no_password from None
    if not typed:
        raise no_password
    return Secret(typed)
