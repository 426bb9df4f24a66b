# -*- test-case-name: tests.sync.test_loading -*-
"""
Tests for L{msync.sync.loading}: what each side's listing loads (UID
ranges, sizes, TUIDs) for the planner.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import LoadRequest, Side, UIDInterval
from msync.sync.loading import LoadPlanner, Needs
from msync.sync.statetext import parse_state
from tests.sync.scenarios import options, state


class LoadTests(SynchronousTestCase):
    """
    L{LoadPlanner}: the ranges mbsync's C{box_opened2}/C{load_box} choose.
    """

    def requests(self, text: str, pair: object, **kwargs: object) -> dict[Side, LoadRequest]:
        planner = LoadPlanner(
            parse_state(text, "s"),
            pair,  # type: ignore[arg-type]
            changed=kwargs.get("changed", ()),  # type: ignore[arg-type]
            replayed=False,
        )
        return planner.requests()

    def test_full_sync(self) -> None:
        """
        A full sync loads every message of both sides.
        """
        got = self.requests(state(3, 2, "1 1", "3 2"), options())
        self.assertEqual(got[Side.FAR], LoadRequest(1, None))
        self.assertEqual(got[Side.NEAR], LoadRequest(1, None))

    def test_new_only(self) -> None:
        """
        PullNew alone loads only far messages above MaxPulledUid, and
        nothing on the near side.
        """
        got = self.requests(state(3, 2, "1 1", "3 2"), options("pull-new"))
        self.assertEqual(got[Side.FAR], LoadRequest(4, None))
        self.assertEqual(got[Side.NEAR], LoadRequest(1, 0))

    def test_sizes_for_max_size(self) -> None:
        """
        A MaxSize on the target asks for the sizes of new source messages.
        """
        got = self.requests(state(3, 2), options("pull-new", near_max_size=100))
        self.assertEqual(got[Side.FAR].sizes, UIDInterval(4))

    def test_uid_validity_change(self) -> None:
        """
        A UIDVALIDITY change loads the paired messages' Message-IDs.
        """
        got = self.requests(state(3, 2, "1 1", "3 2"), options(), changed=[Side.NEAR])
        self.assertEqual(got[Side.NEAR].message_ids, UIDInterval(1, 2))
        self.assertEqual(got[Side.FAR].message_ids, UIDInterval(1, 3))

    def test_max_messages(self) -> None:
        """
        With MaxMessages the far load starts above MaxExpiredFarUid and adds
        the still-paired older messages.
        """
        text = state(9, 9, "2 1", "4 0 ~", "8 5", expired=6)
        got = self.requests(text, options(max_messages=2, expire_unread=True))
        self.assertEqual(got[Side.FAR], LoadRequest(7, None, frozenset({2})))

    def test_max_messages_expiring_side_14(self) -> None:
        """
        mbsync 1.4 with MaxMessages loads every message of the expiring
        (near) side when anything is propagated to it, its new ones too.
        """
        got = self.requests(state(3, 2, "1 1", "3 2"), options("pull", max_messages=10))
        self.assertEqual(got[Side.NEAR], LoadRequest(1, None))

    def test_max_messages_expiring_side_15(self) -> None:
        """
        isync 1.5 (C{any_expiring}) loads only the paired messages of the
        expiring side: its new ones stay unloaded (and, in a Maildir,
        unnumbered) when nothing is pushed from there.
        """
        pair = options("pull", max_messages=10, isync15=True)
        got = self.requests(state(3, 2, "1 1", "3 2"), pair)
        self.assertEqual(got[Side.NEAR], LoadRequest(1, 2))
        # A push of new messages loads them, as without MaxMessages.
        pair = options("pull push-new", max_messages=10, isync15=True)
        got = self.requests(state(3, 2, "1 1", "3 2"), pair)
        self.assertEqual(got[Side.NEAR], LoadRequest(1, None))

    def test_max_messages_placeholders_15(self) -> None:
        """
        isync 1.5 counts placeholders (C{any_dummies}) only after a replay
        or with C{Upgrade} in the operations: without it, the expiring side's
        placeholders do not make the other side load its paired messages
        (fuzzer, --options seed 10), so a record whose far message is gone
        and which has no near message is not found missing there.
        """
        records = ("1 1", "3 0 S", "9 5 >S")
        for sync, paired in (("pull-new", False), ("pull-new pull-renew", True)):
            pair = options(sync, expunge="both", max_messages=50, isync15=True)
            planner = LoadPlanner(
                parse_state(state(10, 5, *records), "s"),
                pair,
                changed=(),
                replayed=False,
                # The far side on IMAP, whose driver loads only what is asked.
                driver_widens={Side.FAR: False, Side.NEAR: True},
            )
            planner.requests()
            self.assertEqual(bool(planner.seen[Side.FAR] & Needs.OLD), paired, sync)
