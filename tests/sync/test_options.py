# -*- test-case-name: tests.sync.test_options -*-
"""
Tests for L{msync.sync.options}: L{PairOptions} from a channel and the
command line's overrides.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import parse_config
from msync.config.schema import SyncOp, SyncOps
from msync.model import Side
from msync.plan import OperationOverrides
from msync.sync.options import PairOptions
from msync.sync.pairwork import random_tuid

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
