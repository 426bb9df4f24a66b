# -*- test-case-name: tests.test_model -*-
"""
Tests for L{msync.model}.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Flags, MessageInfo, MessageListing, Secret, Side


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


class MessageListingTests(SynchronousTestCase):
    """
    L{MessageListing} answers as the list of L{MessageInfo}s it holds as
    columns.
    """

    def _infos(self) -> list[MessageInfo]:
        when = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
        return [
            MessageInfo(3, Flags.SEEN, recent=True),
            MessageInfo(70000, Flags.DELETED | Flags.FLAGGED, size=12, tuid="abcdefghijkl"),
            MessageInfo(70001, Flags.NONE, message_id="<a@b>", arrival_date=when),
            MessageInfo(2**32 - 1, Flags.DRAFT | Flags.SEEN),
        ]

    def test_same_messages(self) -> None:
        """
        A listing made of L{MessageInfo}s gives them back, equal, by
        position, by negative position, by slice, iterating and by UID,
        and compares equal to their list (and unequal to another).
        """
        infos = self._infos()
        listing = MessageListing.of(infos)
        self.assertEqual(len(listing), 4)
        self.assertEqual(list(listing), infos)
        self.assertEqual([listing[at] for at in range(4)], infos)
        self.assertEqual(listing[-1], infos[-1])
        self.assertEqual(listing[1:3], infos[1:3])
        self.assertEqual(listing, infos)
        self.assertNotEqual(listing, infos[:3])
        self.assertNotEqual(listing, [*infos[:3], MessageInfo(2**32 - 1, Flags.DRAFT)])
        self.assertEqual(listing.find(70000), infos[1])
        self.assertIsNone(listing.find(4))
        self.assertEqual(listing.position(70001), 2)
        self.assertEqual(listing.position(70002), -1)
        self.assertEqual(listing.flags_of(70000), int(Flags.DELETED | Flags.FLAGGED))
        self.assertEqual(listing.flags_of(3), int(Flags.SEEN))
        self.assertIsNone(listing.flags_of(1))
        self.assertEqual(listing.recent_count(), 1)
        self.assertEqual([listing.size_at(at) for at in range(4)], [None, 12, None, None])
        self.assertEqual(list(listing.uids), [3, 70000, 70001, 2**32 - 1])
        self.assertIs(MessageListing.of(listing), listing)
        with self.assertRaises(IndexError):
            listing[4]

    def test_select(self) -> None:
        """
        L{MessageListing.select} keeps the messages at the positions
        given, extras included.
        """
        infos = self._infos()
        chosen = MessageListing.of(infos).select([1, 3])
        self.assertEqual(chosen, [infos[1], infos[3]])

    def test_ascending_only(self) -> None:
        """
        A UID not above the last one listed is refused.
        """
        listing = MessageListing()
        listing.add(5, int(Flags.SEEN))
        for uid in (5, 4):
            with self.assertRaises(ValueError):
                listing.add(uid, 0)
        self.assertEqual(listing, [MessageInfo(5, Flags.SEEN)])
