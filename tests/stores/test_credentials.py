# -*- test-case-name: tests.stores.test_credentials -*-
"""
Tests for L{msync.stores.credentials}: C{User}/C{UserCmd} and
C{Pass}/C{PassCmd} with a fake process reactor (what is spawned, with
which descriptors), and the terminal prompt with an injected reader on
inline "threads". Real C{/bin/sh} commands run in
L{tests.integration.test_credentials}.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.internet.interfaces import IProcessProtocol, IProcessTransport
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import IMAPAccount, ShellCommand
from msync.errors import StoreUnavailable
from msync.model import Secret
from msync.stores.credentials import resolve_password, resolve_user
from tests.fakes.clocks import FakeMailReactor

SECRET = "hunter2-do-not-show"


def _account(**options: Any) -> IMAPAccount:
    """
    An account named C{acct} with the given options.
    """
    return IMAPAccount(name="acct", host="imap.example.org", **options)


def _cmd(command: str, interactive: bool = False) -> ShellCommand:
    return ShellCommand(command, interactive)


class _FakeProcessTransport(StringTransport):
    """
    What the fake reactor gives a process protocol: records stdin closing.
    """

    stdin_closed = False

    def closeStdin(self) -> None:
        self.stdin_closed = True

    def signalProcess(self, signal: str | int) -> None:
        raise AssertionError("nothing should be killed")


class _RecordingProcessReactor(FakeMailReactor):
    """
    Records C{spawnProcess} calls; each child at once prints C{output} and
    exits 0.
    """

    def __init__(self, output: bytes = b"value\n") -> None:
        super().__init__()
        self.output = output
        self.spawned: list[tuple[str, Sequence[str], Mapping[str, str] | None, Any]] = []
        self.transports: list[_FakeProcessTransport] = []

    def spawnProcess(
        self,
        processProtocol: IProcessProtocol,  # noqa: N803 (Twisted's name)
        executable: bytes | str,
        args: Sequence[bytes | str],
        env: Mapping[Any, Any] | None = None,
        path: Any = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,  # noqa: N803
        childFDs: Mapping[int, int | str] | None = None,  # noqa: N803
    ) -> Any:
        self.spawned.append((str(executable), [str(a) for a in args], env, childFDs))
        transport = _FakeProcessTransport()
        self.transports.append(transport)
        processProtocol.makeConnection(cast(IProcessTransport, transport))
        processProtocol.childDataReceived(1, self.output)
        processProtocol.processEnded(Failure(ProcessDone(0)))
        return transport


class UserTests(SynchronousTestCase):
    """
    L{resolve_user}.
    """

    def test_user_option(self) -> None:
        """
        C{User} is used as is; no command runs.
        """
        fake = _RecordingProcessReactor()
        user = self.successResultOf(
            Deferred.fromCoroutine(
                resolve_user(_account(user="alice", user_cmd=_cmd("echo bob")), fake)
            )
        )
        self.assertEqual(user, "alice")
        self.assertEqual(fake.spawned, [])

    def test_no_user(self) -> None:
        """
        Without C{User} and C{UserCmd}: C{Skipping account acct, no user}.
        """
        error = self.failureResultOf(
            Deferred.fromCoroutine(resolve_user(_account(), _RecordingProcessReactor())),
            StoreUnavailable,
        ).value
        self.assertEqual(str(error), "Skipping account acct, no user")


class PassCmdTests(SynchronousTestCase):
    """
    L{resolve_password} with C{Pass} and C{PassCmd}.
    """

    def test_pass_option(self) -> None:
        """
        C{Pass} is used as is; no command runs.
        """
        fake = _RecordingProcessReactor()
        password = self.successResultOf(
            Deferred.fromCoroutine(
                resolve_password(_account(password=Secret("pw"), pass_cmd=_cmd("echo x")), fake)
            )
        )
        self.assertEqual(password, Secret("pw"))
        self.assertEqual(fake.spawned, [])

    def test_shell_and_descriptors(self) -> None:
        """
        Commands run as C{/bin/sh -c COMMAND}; a plain one gets a pipe for
        stdin (closed at once) and stderr, a C{+} one our stdin and stderr.
        """
        fake = _RecordingProcessReactor(b"pw\n")
        for interactive in (False, True):
            account = _account(pass_cmd=_cmd("pass show mail", interactive))
            self.successResultOf(Deferred.fromCoroutine(resolve_password(account, fake)))
        (shell, args, env, plain_fds), (_, _, _, interactive_fds) = fake.spawned
        self.assertEqual((shell, args), ("/bin/sh", ["/bin/sh", "-c", "pass show mail"]))
        self.assertEqual(env, dict(os.environ))
        self.assertEqual(plain_fds, {0: "w", 1: "r", 2: "r"})
        self.assertEqual(interactive_fds, {0: 0, 1: "r", 2: 2})
        self.assertEqual([t.stdin_closed for t in fake.transports], [True, False])


class PromptTests(SynchronousTestCase):
    """
    L{resolve_password} without C{Pass} or C{PassCmd}: mbsync's prompt.
    """

    def test_prompt_on_terminal(self) -> None:
        """
        On a terminal the user is asked C{Password (acct): }, in a thread.
        """
        prompts: list[str] = []

        def ask(prompt: str) -> str:
            prompts.append(prompt)
            return "typed"

        password = self.successResultOf(
            Deferred.fromCoroutine(
                resolve_password(_account(), FakeMailReactor(), ask=ask, is_terminal=lambda: True)
            )
        )
        self.assertEqual((password, prompts), (Secret("typed"), ["Password (acct): "]))

    def test_nothing_typed(self) -> None:
        """
        An empty answer or end of input: C{Skipping account acct, no password}.
        """

        def eof(prompt: str) -> str:
            raise EOFError()

        for ask in (lambda prompt: "", eof):
            error = self.failureResultOf(
                Deferred.fromCoroutine(
                    resolve_password(
                        _account(), FakeMailReactor(), ask=ask, is_terminal=lambda: True
                    )
                ),
                StoreUnavailable,
            ).value
            self.assertEqual(str(error), "Skipping account acct, no password")

    def test_no_terminal(self) -> None:
        """
        Without a terminal nobody is asked: C{Skipping account acct, no
        password}.
        """

        def ask(prompt: str) -> str:
            raise AssertionError("must not prompt")

        error = self.failureResultOf(
            Deferred.fromCoroutine(
                resolve_password(_account(), FakeMailReactor(), ask=ask, is_terminal=lambda: False)
            ),
            StoreUnavailable,
        ).value
        self.assertEqual(str(error), "Skipping account acct, no password")
