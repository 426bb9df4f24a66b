# -*- test-case-name: tests.test_errors -*-
"""
Tests for L{msync.errors}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import (
    CommandFailed,
    ConfigError,
    MailboxError,
    MailboxNameError,
    MessageError,
    MsyncError,
    StoreError,
    StoreUnavailable,
    shown_name,
)


class ErrorTests(SynchronousTestCase):
    """
    Error messages name their location; severities form a hierarchy.
    """

    def test_config_error_names_file_and_line(self) -> None:
        """
        A ConfigError reads C{file:line: reason}.
        """
        error = ConfigError("msyncrc", 12, "unknown keyword 'Pss' in IMAPAccount gmail")
        self.assertEqual(str(error), "msyncrc:12: unknown keyword 'Pss' in IMAPAccount gmail")
        self.assertEqual((error.filename, error.line), ("msyncrc", 12))

    def test_config_error_without_line(self) -> None:
        """
        A file-level ConfigError names only the file.
        """
        self.assertEqual(str(ConfigError("rc", None, "cannot open")), "rc: cannot open")

    def test_command_failed_text(self) -> None:
        """
        CommandFailed shows the status, the response code and the text.
        """
        error = CommandFailed("SELECT", b"NO", b"TRYCREATE", "no such mailbox")
        self.assertEqual(str(error), "IMAP command SELECT failed: NO [TRYCREATE] no such mailbox")

    def test_severities(self) -> None:
        """
        The three store severities are StoreErrors and MsyncErrors.
        """
        for cls in (MessageError, MailboxError, StoreUnavailable):
            self.assertTrue(issubclass(cls, StoreError))
            self.assertTrue(issubclass(cls, MsyncError))


class ShownNameTests(SynchronousTestCase):
    """
    L{shown_name} makes names from servers and disks safe to print.
    """

    def test_rows(self) -> None:
        """
        Terminal controls, undecodable bytes and invisible formatting are
        escaped; ordinary text, accents included, is kept.
        """
        rows: list[tuple[str | bytes, str]] = [
            ("INBOX/Sent", "INBOX/Sent"),
            ("Café", "Café"),
            ("a\x1b[31mred", "a\\x1b[31mred"),
            ("bell\x07\x7f\x9b", "bell\\x07\\x7f\\x9b"),
            ("new\nline\r", "new\\x0aline\\x0d"),
            ("rtl\u202eexe.txt", "rtl\\u202eexe.txt"),
            ("bad\udcffbyte", "bad\\xffbyte"),
            (b"Q&A\xff", "Q&A\\xff"),
            (b"Caf\xc3\xa9", "Café"),
        ]
        for name, expected in rows:
            self.assertEqual(shown_name(name), expected, name)

    def test_mailbox_name_error(self) -> None:
        """
        L{MailboxNameError} shows its name with L{shown_name}, for C{bytes}
        too: never a Python repr.
        """
        self.assertEqual(
            str(MailboxNameError(b"INBOX.\x1b]0;x", "bad")), "mailbox name INBOX.\\x1b]0;x: bad"
        )
        self.assertEqual(MailboxNameError("x", "why").reason, "why")
