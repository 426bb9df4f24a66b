# -*- test-case-name: tests.test_model -*-
"""
Tests for L{msync.model}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Flags, Secret, Side


class SideTests(SynchronousTestCase):
    """
    L{Side} indexes the two sides as mbsync does.
    """

    def test_values(self) -> None:
        """
        Far is 0 and near is 1, as in mbsync's journal (C{N 0 uid}).
        """
        self.assertEqual((int(Side.FAR), int(Side.NEAR)), (0, 1))

    def test_other_and_label(self) -> None:
        """
        C{other} flips the side; C{label} is mbsync's word for it.
        """
        self.assertIs(Side.FAR.other, Side.NEAR)
        self.assertIs(Side.NEAR.other, Side.FAR)
        self.assertEqual((Side.FAR.label, Side.NEAR.label), ("far", "near"))


class FlagsTests(SynchronousTestCase):
    """
    L{Flags} has mbsync's bit values and Maildir letters.
    """

    def test_bits(self) -> None:
        """
        D=1 F=2 P=4 R=8 S=16 T=32, as in mbsync's state and journal files.
        """
        self.assertEqual([int(f) for f in (Flags.DRAFT, Flags.FLAGGED, Flags.FORWARDED)], [1, 2, 4])
        self.assertEqual([int(f) for f in (Flags.ANSWERED, Flags.SEEN, Flags.DELETED)], [8, 16, 32])

    def test_letters_in_order(self) -> None:
        """
        Letters come out in DFPRST order whatever the order of the bits.
        """
        self.assertEqual((Flags.SEEN | Flags.DRAFT | Flags.DELETED).letters(), "DST")
        self.assertEqual(Flags.NONE.letters(), "")
        self.assertEqual(Flags(63).letters(), "DFPRST")

    def test_from_letters_ignores_others(self) -> None:
        """
        Unknown letters (Dovecot keyword letters) are ignored.
        """
        self.assertEqual(Flags.from_letters("aSbF"), Flags.SEEN | Flags.FLAGGED)
        self.assertEqual(Flags.from_letters(""), Flags.NONE)


class SecretTests(SynchronousTestCase):
    """
    L{Secret} never shows its value.
    """

    def test_repr_and_str_hide_value(self) -> None:
        """
        Neither repr nor str nor a containing structure's repr shows it.
        """
        secret = Secret("hunter2")
        self.assertNotIn("hunter2", repr(secret))
        self.assertNotIn("hunter2", str(secret))
        self.assertNotIn("hunter2", repr([secret, {"pass": secret}]))
        self.assertEqual(secret.value, "hunter2")
