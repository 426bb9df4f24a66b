# -*- test-case-name: tests.stores.test_imapbox -*-
"""
Tests for L{msync.stores.imapbox}: IMAP flag names and L{Flags}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import ALL_FLAGS, Flags
from msync.stores.imapbox import flags_of, imap_flags, permanent_flags


class FlagTests(SynchronousTestCase):
    """
    IMAP flag names and L{Flags}.
    """

    def test_round_trip(self) -> None:
        """
        Every flag has its mbsync IMAP name; names match case-insensitively
        and unknown keywords are ignored.
        """
        self.assertEqual(flags_of(imap_flags(ALL_FLAGS)), ALL_FLAGS)
        self.assertEqual(imap_flags(Flags.FORWARDED | Flags.SEEN), (b"$Forwarded", b"\\Seen"))
        self.assertEqual(
            flags_of([b"\\SEEN", b"$forwarded", b"$Junk"]), Flags.SEEN | Flags.FORWARDED
        )

    def test_permanent_flags(self) -> None:
        """
        C{\\*} or no PERMANENTFLAGS allow all; otherwise only those named
        (C{P} needs C{$Forwarded}).
        """
        self.assertEqual(permanent_flags([b"\\Seen", b"\\*"]), ALL_FLAGS)
        self.assertEqual(permanent_flags(None), ALL_FLAGS)
        self.assertEqual(permanent_flags([b"\\Seen", b"\\Deleted"]), Flags.SEEN | Flags.DELETED)
        self.assertEqual(permanent_flags([]), Flags.NONE)
