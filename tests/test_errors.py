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
    MessageError,
    MsyncError,
    StoreError,
    StoreUnavailable,
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
