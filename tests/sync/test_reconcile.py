# -*- test-case-name: tests.sync.test_reconcile -*-
"""
Tests for L{msync.sync.reconcile}, L{msync.sync.options} and
L{msync.sync.loading}: options from a configured channel, and the loads
mbsync 1.4 would make.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import parse_config
from msync.config.schema import SyncOp, SyncOps
from msync.model import LoadRequest, Side, UIDInterval
from msync.plan import OperationOverrides
from msync.sync.loading import LoadPlanner
from msync.sync.options import PairOptions
from msync.sync.pairwork import random_tuid
from msync.sync.state import parse_state
from tests.sync.scenarios import options, state

CONFIG = """\
MaildirStore far
Path /m/far/
Inbox /m/far/INBOX
Trash Trash
TrashNewOnly yes

MaildirStore near
Path /m/near/
Inbox /m/near/INBOX
MaxSize 10k
TrashRemoteNew yes

Channel chan
Far :far:
Near :near:
Sync PullNew Push
Expunge Near
Create Both
MaxMessages 5
ExpireUnread yes
CopyArrivalDate yes
"""


class PairOptionsTests(SynchronousTestCase):
    """
    L{PairOptions.from_channel}.
    """

    def test_from_channel(self) -> None:
        """
        Every channel and store option lands on the side it applies to.
        """
        channel = parse_config(CONFIG, "rc", home="/h").channels[0]
        result = PairOptions.from_channel(channel)
        self.assertEqual(result.near.ops, SyncOp.NEW)
        self.assertEqual(result.far.ops, SyncOp.ALL)
        self.assertEqual((result.far.expunge, result.near.expunge), (False, True))
        self.assertEqual((result.far.create, result.near.create), (True, True))
        self.assertEqual((result.far.trash, result.far.trash_new_only), ("Trash", True))
        self.assertEqual((result.near.trash, result.near.trash_remote_new), (None, True))
        self.assertEqual((result.far.max_size, result.near.max_size), (None, 10240))
        self.assertEqual((result.max_messages, result.expire_unread), (5, True))
        self.assertTrue(result.copy_arrival_date)
        self.assertEqual(result.channel, "chan")
        self.assertFalse(result.dry_run)

    def test_overrides(self) -> None:
        """
        Command-line overrides replace the channel's settings.
        """
        channel = parse_config(CONFIG, "rc", home="/h").channels[0]
        overrides = OperationOverrides(
            sync=SyncOps(pull=SyncOp.FLAGS, push=SyncOp.NONE), expunge=frozenset(Side)
        )
        result = PairOptions.from_channel(channel, overrides, dry_run=True)
        self.assertEqual((result.near.ops, result.far.ops), (SyncOp.FLAGS, SyncOp.NONE))
        self.assertEqual((result.far.expunge, result.near.expunge), (True, True))
        self.assertTrue(result.dry_run)

    def test_random_tuid(self) -> None:
        """
        TUIDs are 12 characters of mbsync's alphabet.
        """
        tuid = random_tuid()
        self.assertEqual(len(tuid), 12)
        self.assertTrue(
            set(tuid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        )


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
