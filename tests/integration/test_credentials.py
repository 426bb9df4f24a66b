# -*- test-case-name: tests.integration.test_credentials -*-
"""
L{msync.stores.credentials} with real C{/bin/sh} commands on the real
reactor (the commands are tiny and local): C{UserCmd} and C{PassCmd} output,
exit status, signals, limits and the environment.
"""

from __future__ import annotations

import os
from typing import cast

from twisted.internet import reactor as _global_reactor
from twisted.logger import capturedLogs
from twisted.trial.unittest import TestCase

from msync.errors import StoreUnavailable
from msync.reactor import MailReactor
from msync.stores.credentials import LINE_LIMIT, resolve_password, resolve_user
from tests.stores.test_credentials import SECRET, _account, _cmd

reactor = cast(MailReactor, _global_reactor)


class UserCmdTests(TestCase):
    """
    L{resolve_user} running C{UserCmd}.
    """

    async def test_user_cmd_first_line(self) -> None:
        """
        C{UserCmd}'s first output line, without its newline, is the user.
        """
        user = await resolve_user(_account(user_cmd=_cmd("printf 'alice\\nbob\\n'")), reactor)
        self.assertEqual(user, "alice")

    async def test_user_cmd_fails(self) -> None:
        """
        A failing C{UserCmd} skips the account with mbsync's message and the
        command's stderr.
        """
        account = _account(user_cmd=_cmd("echo oops >&2; exit 4"))
        with self.assertRaises(StoreUnavailable) as caught:
            await resolve_user(account, reactor)
        self.assertEqual(
            str(caught.exception),
            "Skipping account acct, UserCmd exited with status 4 (stderr: oops)",
        )

    async def test_user_cmd_no_output(self) -> None:
        """
        A C{UserCmd} that prints nothing skips the account.
        """
        with self.assertRaises(StoreUnavailable) as caught:
            await resolve_user(_account(user_cmd=_cmd("true")), reactor)
        self.assertEqual(str(caught.exception), "Skipping account acct, UserCmd produced no output")


class PassCmdTests(TestCase):
    """
    L{resolve_password} running C{PassCmd}.
    """

    async def test_first_line_only(self) -> None:
        """
        Only the first line of C{PassCmd}'s output counts; its newline is
        stripped, and the rest is read and dropped.
        """
        command = _cmd(f"printf '{SECRET}\\nsecond line\\n'; seq 1 100000")
        password = await resolve_password(_account(pass_cmd=command), reactor)
        self.assertEqual(password.value, SECRET)

    async def test_no_trailing_newline(self) -> None:
        """
        Output without a newline is used whole.
        """
        password = await resolve_password(_account(pass_cmd=_cmd("printf tok")), reactor)
        self.assertEqual(password.value, "tok")

    async def test_line_limit(self) -> None:
        """
        At most 8191 bytes of the first line count, as with mbsync's fgets.
        """
        command = _cmd("head -c 10000 /dev/zero | tr '\\0' a")
        password = await resolve_password(_account(pass_cmd=command), reactor)
        self.assertEqual(LINE_LIMIT, 8191)
        self.assertEqual(password.value, "a" * LINE_LIMIT)

    async def test_exit_status(self) -> None:
        """
        A non-zero exit skips the account with mbsync's message plus the
        command's stderr, and never its stdout.
        """
        command = _cmd(f"echo {SECRET}; echo 'gpg: decryption failed' >&2; exit 3")
        with self.assertRaises(StoreUnavailable) as caught:
            await resolve_password(_account(pass_cmd=command), reactor)
        self.assertEqual(
            str(caught.exception),
            "Skipping account acct, PassCmd exited with status 3 (stderr: gpg: decryption failed)",
        )
        self.assertNotIn(SECRET, str(caught.exception))

    async def test_no_output(self) -> None:
        """
        A C{PassCmd} that prints nothing skips the account.
        """
        with self.assertRaises(StoreUnavailable) as caught:
            await resolve_password(_account(pass_cmd=_cmd("true")), reactor)
        self.assertEqual(str(caught.exception), "Skipping account acct, PassCmd produced no output")

    async def test_empty_line(self) -> None:
        """
        Like mbsync, an empty first line is an empty password, not an error.
        """
        password = await resolve_password(_account(pass_cmd=_cmd("echo")), reactor)
        self.assertEqual(password.value, "")

    async def test_killed(self) -> None:
        """
        A C{PassCmd} killed by a signal "crashed".
        """
        with self.assertRaises(StoreUnavailable) as caught:
            await resolve_password(_account(pass_cmd=_cmd("kill -9 $$")), reactor)
        self.assertEqual(str(caught.exception), "Skipping account acct, PassCmd crashed")

    async def test_rerun_every_time(self) -> None:
        """
        C{PassCmd} runs again on every call: nothing is cached.
        """
        counter = self.mktemp()
        command = _cmd(f"echo x >> {counter}; wc -l < {counter}")
        account = _account(pass_cmd=command)
        first = await resolve_password(account, reactor)
        second = await resolve_password(account, reactor)
        self.assertEqual((first.value.strip(), second.value.strip()), ("1", "2"))

    async def test_environment_and_closed_stdin(self) -> None:
        """
        The command inherits our environment; a non-interactive command's
        stdin is closed, so reading it ends at once.
        """
        os.environ["MSYNC_TEST_TOKEN"] = "from-env"
        self.addCleanup(os.environ.pop, "MSYNC_TEST_TOKEN")
        command = _cmd('cat; printf "%s\\n" "$MSYNC_TEST_TOKEN"')
        password = await resolve_password(_account(pass_cmd=command), reactor)
        self.assertEqual(password.value, "from-env")

    async def test_secret_never_logged(self) -> None:
        """
        Neither a successful nor a failing C{PassCmd} logs its output or its
        command line.
        """
        with capturedLogs() as events:
            await resolve_password(_account(pass_cmd=_cmd(f"echo {SECRET}")), reactor)
            with self.assertRaises(StoreUnavailable):
                await resolve_password(_account(pass_cmd=_cmd(f"echo {SECRET}; exit 1")), reactor)
        self.assertTrue(events)
        for event in events:
            self.assertNotIn(SECRET, repr(event))
