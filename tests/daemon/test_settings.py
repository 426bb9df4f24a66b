# -*- test-case-name: tests.daemon.test_settings -*-
"""
Tests for L{msync.daemon.settings}: backoff bounds, IDLE patterns, the hook
shell rule, the mailboxes line and the change summary.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.daemon.settings import Backoff, change_summary, hook_argv, idled, mailboxes_text


class BackoffTests(SynchronousTestCase):
    """
    L{Backoff}: doubling, capped, jittered down by at most half.
    """

    def test_bounds(self) -> None:
        """
        For every draw of the random source the delay stays within
        [base/2, base] of the doubling, capped base; reset starts over.
        """
        for draw in (0.0, 0.25, 0.5, 0.999999):
            backoff = Backoff(1, 60, lambda draw=draw: draw)  # type: ignore[misc]  # bound default
            delays = [backoff.next_delay() for _ in range(10)]
            bases = [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
            for delay, base in zip(delays, bases, strict=True):
                self.assertTrue(base / 2 <= delay <= base, (draw, delay, base))
            backoff.reset()
            self.assertTrue(0.5 <= backoff.next_delay() <= 1)

    def test_no_jitter_at_zero(self) -> None:
        """
        A draw of 0 gives the base itself (the upper bound).
        """
        backoff = Backoff(2, 10, lambda: 0.0)
        self.assertEqual([backoff.next_delay() for _ in range(4)], [2, 4, 8, 10])


class IdledTests(SynchronousTestCase):
    """
    L{idled}: C{Patterns} rules, last match wins.
    """

    def test_rows(self) -> None:
        """
        Each (box, patterns) row gives the expected answer.
        """
        rows = [
            ("INBOX", ("INBOX",), True),
            ("Archive", ("INBOX",), False),
            ("Lists/a", ("INBOX", "Lists/*"), True),
            ("Lists/spam", ("Lists/*", "!Lists/spam"), False),
            ("Lists/a/b", ("Lists/%",), False),
            ("x", ("*",), True),
            ("x", (), False),
        ]
        for box, patterns, expected in rows:
            self.assertEqual(idled(box, patterns), expected, (box, patterns))


class HookArgvTests(SynchronousTestCase):
    """
    L{hook_argv}: no shell unless the command needs one.
    """

    def test_rows(self) -> None:
        """
        Plain words run directly (with quoting); shell syntax goes to
        /bin/sh -c.
        """
        rows = [
            ("notmuch new", ["notmuch", "new"]),
            ("mu index --quiet", ["mu", "index", "--quiet"]),
            ("notify-send 'New mail'", ["notify-send", "New mail"]),
            ("notmuch new && afew -t", ["/bin/sh", "-c", "notmuch new && afew -t"]),
            ("echo $MSYNC_NEW > /tmp/n", ["/bin/sh", "-c", "echo $MSYNC_NEW > /tmp/n"]),
            ("ls ~/Mail", ["/bin/sh", "-c", "ls ~/Mail"]),
            ("a | b", ["/bin/sh", "-c", "a | b"]),
            ("unbalanced 'quote", ["/bin/sh", "-c", "unbalanced 'quote"]),
        ]
        for command, argv in rows:
            self.assertEqual(hook_argv(command), argv, command)


class TextTests(SynchronousTestCase):
    """
    The mailboxes line and the change summary.
    """

    def test_mailboxes(self) -> None:
        """
        Paths are sorted, unique and quoted, with quotes and backslashes
        escaped.
        """
        self.assertEqual(
            mailboxes_text(["/m/b", "/m/a", "/m/b", '/m/q"x\\y']),
            'mailboxes "/m/a" "/m/b" "/m/q\\"x\\\\y"\n',
        )

    def test_summary(self) -> None:
        """
        One line naming each kind of change; nothing when nothing changed.
        """
        self.assertEqual(change_summary("INBOX", 3, 0, 2, 1), "INBOX: +3 new, 2 flags, -1")
        self.assertEqual(change_summary("Sent", 0, 1, 0, 0), "Sent: 1 pushed")
        self.assertIsNone(change_summary("INBOX", 0, 0, 0, 0))
