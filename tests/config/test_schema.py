"""
Tests for L{msync.config.schema}: the Sync matrix rules, side sets, and the
value classes' guarantees.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError

from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import (
    ALL_SIDES,
    NO_SIDES,
    SYNC_ALL,
    SYNC_NONE,
    BoxSpec,
    Channel,
    Config,
    GlobalOptions,
    IMAPAccount,
    IMAPStore,
    MaildirStore,
    SyncOp,
    SyncOps,
    parse_side,
    parse_sides,
    parse_sync,
)
from msync.model import Secret, Side

N, R, D, F = SyncOp.NEW, SyncOp.RENEW, SyncOp.DELETE, SyncOp.FLAGS
NONE, ALL = SyncOp.NONE, SyncOp.ALL

# (words, expected (pull, push)); pull = applied to near, push = to far.
SYNC_ROWS: list[tuple[str, tuple[SyncOp, SyncOp]]] = [
    ("All", (ALL, ALL)),
    ("full", (ALL, ALL)),
    ("None", (NONE, NONE)),
    ("Noop", (NONE, NONE)),
    ("Pull", (ALL, NONE)),
    ("Push", (NONE, ALL)),
    ("Pull Push", (ALL, ALL)),
    ("New", (N, N)),
    ("New Delete", (N | D, N | D)),
    ("Pull New Flags", (N | F, NONE)),
    ("push renew", (NONE, R)),
    ("PullNew", (N, NONE)),
    ("PullNew Push", (N, ALL)),
    ("PullNew PullDelete Push", (N | D, ALL)),
    ("PullNew PushFlags", (N, F)),
    ("PullNew Flags", (N | F, F)),
    ("PullUpgrade PushGone", (R, D)),
    ("Upgrade Gone", (R | D, R | D)),
    ("Old", (SyncOp.OLD, SyncOp.OLD)),
    ("PullOld", (SyncOp.OLD, NONE)),
    ("New New", (N, N)),
    ("All None", (ALL, ALL)),
]

CONFLICTS = [
    "PullNew Pull",
    "PullNew New",
    "PullNew Delete Push",
    "PullFlags All",
    "PushNew Push",
    "PullNew PullNew Flags PushFlags",
]


class ParseSyncTests(SynchronousTestCase):
    """
    L{parse_sync} follows mbsync's two assertion styles.
    """

    def test_table(self) -> None:
        """
        Every row of the table yields the expected pull and push operations.
        """
        for words, (pull, push) in SYNC_ROWS:
            with self.subTest(words=words):
                self.assertEqual(parse_sync(words.split()), SyncOps(pull=pull, push=push))

    def test_conflicts(self) -> None:
        """
        Asserting a cell twice is mbsync's C{Conflicting Sync args specified.}
        """
        for words in CONFLICTS:
            with self.subTest(words=words):
                with self.assertRaises(ValueError) as caught:
                    parse_sync(words.split())
                self.assertEqual(str(caught.exception), "Conflicting Sync args specified.")

    def test_invalid_word(self) -> None:
        """
        An unknown word is reported as written.
        """
        with self.assertRaises(ValueError) as caught:
            parse_sync(["Pull", "Bogus"])
        self.assertEqual(str(caught.exception), "invalid Sync arg 'Bogus'")

    def test_towards(self) -> None:
        """
        L{SyncOps.towards} names the operations applied to a side.
        """
        ops = SyncOps(pull=N, push=F)
        self.assertEqual(ops.towards(Side.NEAR), N)
        self.assertEqual(ops.towards(Side.FAR), F)
        self.assertEqual(SYNC_NONE.towards(Side.FAR), NONE)
        self.assertEqual(SYNC_ALL.towards(Side.NEAR), ALL)

    def test_all_excludes_old(self) -> None:
        """
        C{All} is the four 1.4 types; 1.5's C{Old} is only ever explicit.
        """
        self.assertEqual(ALL, N | R | D | F)
        self.assertFalse(ALL & SyncOp.OLD)


class ParseSidesTests(SynchronousTestCase):
    """
    L{parse_sides} and L{parse_side} read C{Create}-style side words.
    """

    def test_words(self) -> None:
        """
        C{None}, C{Far}, C{Near}, C{Both} and the legacy spellings accumulate.
        """
        rows = [
            ("None", NO_SIDES),
            ("Both", ALL_SIDES),
            ("both Both", ALL_SIDES),
            ("Far", frozenset({Side.FAR})),
            ("master", frozenset({Side.FAR})),
            ("Slave", frozenset({Side.NEAR})),
            ("Far Near", ALL_SIDES),
            ("None Far", frozenset({Side.FAR})),
        ]
        for words, expected in rows:
            with self.subTest(words=words):
                self.assertEqual(parse_sides("Create", words.split()), expected)

    def test_conflict(self) -> None:
        """
        C{Both} together with an explicit side conflicts, as in mbsync.
        """
        with self.assertRaises(ValueError) as caught:
            parse_sides("Expunge", ["Far", "Both"])
        self.assertEqual(str(caught.exception), "Conflicting Expunge args specified.")

    def test_invalid(self) -> None:
        """
        An unknown word names the option.
        """
        with self.assertRaises(ValueError) as caught:
            parse_sides("Remove", ["Sideways"])
        self.assertEqual(str(caught.exception), "invalid Remove arg 'Sideways'")

    def test_single_side(self) -> None:
        """
        L{parse_side} accepts exactly one side.
        """
        self.assertIs(parse_side("ExpireSide", "far"), Side.FAR)
        self.assertIs(parse_side("ExpireSide", "Slave"), Side.NEAR)
        for word in ("Both", "None", "x"):
            with self.subTest(word=word):
                self.assertRaises(ValueError, parse_side, "ExpireSide", word)


class ValueTests(SynchronousTestCase):
    """
    The value classes are frozen and never show passwords.
    """

    def _config(self) -> Config:
        """
        A small configuration holding a password.
        """
        account = IMAPAccount("acct", host="h", password=Secret("hunter2"))
        remote = IMAPStore("remote", account)
        local = MaildirStore("local", inbox="/home/u/Maildir")
        channel = Channel(
            "c", BoxSpec("remote"), BoxSpec("local", "x"), far_store=remote, near_store=local
        )
        return Config(
            "rc",
            GlobalOptions(),
            accounts=(account,),
            stores=(remote, local),
            channels=(channel,),
        )

    def test_frozen(self) -> None:
        """
        Assigning to a field fails.
        """
        config = self._config()
        self.assertRaises(FrozenInstanceError, setattr, config, "filename", "x")
        self.assertRaises(FrozenInstanceError, setattr, config.channels[0], "name", "x")

    def test_repr_hides_password(self) -> None:
        """
        The password is absent from repr and str of the whole config.
        """
        config = self._config()
        self.assertNotIn("hunter2", repr(config))
        self.assertNotIn("hunter2", str(config))
        self.assertEqual(config.accounts[0].password, Secret("hunter2"))

    def test_lookups(self) -> None:
        """
        Channels, stores and groups are found by exact name.
        """
        config = self._config()
        channel = config.channel("c")
        assert channel is not None
        self.assertIs(channel.store(Side.FAR), config.store("remote"))
        self.assertEqual(channel.spec(Side.NEAR), BoxSpec("local", "x"))
        self.assertIsNone(config.channel("C"))
        self.assertIsNone(config.group("c"))
        self.assertIsNone(config.store("nope"))

    def test_channel_defaults(self) -> None:
        """
        A bare channel has mbsync's built-in defaults.
        """
        channel = self._config().channels[0]
        self.assertEqual(channel.sync, SYNC_ALL)
        self.assertEqual(channel.create, NO_SIDES)
        self.assertEqual(channel.expunge, NO_SIDES)
        self.assertEqual(channel.max_messages, 0)
        self.assertIsNone(channel.expire_unread)
        self.assertIs(channel.expire_side, Side.NEAR)
        self.assertEqual(channel.explicit, frozenset())
