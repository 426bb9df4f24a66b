# -*- test-case-name: tests.sync.test_statepaths -*-
"""
Tests for L{msync.sync.statepaths}: state file locations, as mbsync 1.4.4
created them.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import StateError
from msync.sync.statepaths import StatePaths, state_paths


class PathTests(SynchronousTestCase):
    """
    State file locations, as mbsync 1.4.4 created them.
    """

    def test_global_default(self) -> None:
        """
        No setting: ~/.mbsync/:far:box_:near:box, boxes with / as !
        (verified: ~/.mbsync/:far-store:a!b_:near-store:a!b).
        """
        paths = state_paths(None, None, "far-store", "a/b", "near-store", "a/b", None, ":", "/h")
        self.assertEqual(
            paths,
            StatePaths(
                "/h/.mbsync/:far-store:a!b_:near-store:a!b",
                "/h/.mbsync/:far-store:a!b_:near-store:a!b.journal",
                "/h/.mbsync/:far-store:a!b_:near-store:a!b.new",
                "/h/.mbsync/:far-store:a!b_:near-store:a!b.lock",
                "/h/.mbsync",
            ),
        )

    def test_global_setting_and_delimiter(self) -> None:
        """
        A global SyncState is a prefix for the long name; FieldDelimiter
        replaces the colons.
        """
        paths = state_paths(None, "/s/", "f", "INBOX", "n", "INBOX", None, ";", "/h")
        self.assertEqual(paths.state, "/s/;f;INBOX_;n;INBOX")
        self.assertEqual(paths.directory, "/s")

    def test_channel_prefix(self) -> None:
        """
        A channel SyncState is a prefix for the near box name (/ as !).
        """
        paths = state_paths("~/st/", None, "f", "x", "n", "a/b", None, ":", "/h")
        self.assertEqual(paths.state, "/h/st/a!b")
        self.assertEqual(paths.lock, "/h/st/a!b.lock")

    def test_in_box(self) -> None:
        """
        * puts .mbsyncstate into the near box (verified: x/y/.mbsyncstate).
        """
        paths = state_paths("*", None, "f", "a/b", "n", "x/y", "/m/x/y", ":", "/h")
        self.assertEqual(paths.state, "/m/x/y/.mbsyncstate")
        self.assertEqual(paths.journal, "/m/x/y/.mbsyncstate.journal")
        self.assertIsNone(paths.directory)

    def test_errors(self) -> None:
        """
        * without a box path, and names without /, fail like mbsync.
        """
        error = self.assertRaises(
            StateError, state_paths, None, "*", "f", "a", "imap", "b", None, ":", "/h"
        )
        self.assertEqual(str(error), "store 'imap' does not support in-box sync state")
        error = self.assertRaises(
            StateError, state_paths, "pre", None, "f", "a", "n", "b", None, ":", "/h"
        )
        self.assertEqual(str(error), "invalid SyncState location 'preb'")
