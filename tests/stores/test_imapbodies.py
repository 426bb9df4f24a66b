# -*- test-case-name: tests.stores.test_imapbodies -*-
"""
Tests for the batched body fetches of a pull: L{IMAPSession.uid_fetch_bodies}
(one C{UID FETCH} of several UIDs, answered in any order) and the batching
of L{IMAPMailbox.fetch} over the fake server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.errors import MessageError
from msync.model import Flags
from msync.stores.imapbox import (
    BODIES_PER_FETCH,
    BODY_FETCHES_AT_ONCE,
    SPOOL_IN_MEMORY,
    IMAPMailbox,
    Spool,
    SpooledBody,
    read_source,
)
from msync.stores.interface import BytesSource, IMessageBody
from tests.fakes.imapserver import _TABLE, FakeIMAPServer, MailStore
from tests.imap.test_session import Client
from tests.stores.test_imapstore import PASSWORD, FakeNetwork, PumpingMixin, account


class SessionBodiesTests(SynchronousTestCase):
    """
    L{IMAPSession.uid_fetch_bodies} routes each body literal by the UID
    its response named.
    """

    def test_out_of_order_and_interleaved(self) -> None:
        """
        One command for the UIDs; the answers arrive out of order, with
        unsolicited FETCH FLAGS in between (for a UID asked for and one
        not), one UID named only after its literal (delivered whole), a
        repeated body dropped, and one UID not answered at all: each body
        reaches its own UID, and the missing UID has no result.
        """
        client = Client()
        client.select()
        chunks: dict[int, list[bytes]] = {}

        def consume(uid: int, chunk: bytes) -> None:
            chunks.setdefault(uid, []).append(chunk)

        items = (b"UID", b"FLAGS", b"BODY.PEEK[]")
        fetched = client.run(client.session.uid_fetch_bodies([7, 8, 9, 11], consume, items))
        self.assertEqual(client.sent(), b"A2 UID FETCH 7:9,11 (UID FLAGS BODY.PEEK[])\r\n")
        client.receive(b"* 3 FETCH (UID 9 BODY[] {4}\r\nni")
        client.receive(b"ne FLAGS ())\r\n")
        client.receive(b"* 2 FETCH (UID 8 FLAGS (\\Flagged))\r\n")
        client.receive(b"* 40 FETCH (UID 50 FLAGS (\\Seen))\r\n")
        client.receive(b"* 1 FETCH (FLAGS (\\Seen) BODY[] {5}\r\nseven UID 7)\r\n")
        client.receive(b"* 2 FETCH (UID 8 FLAGS () BODY[] {5}\r\neight)\r\n")
        client.receive(b"* 3 FETCH (UID 9 BODY[] {5}\r\nNINE! FLAGS ())\r\n")
        client.receive(b"A2 OK done\r\n")
        found = self.successResultOf(fetched)
        self.assertEqual(
            {uid: b"".join(each) for uid, each in chunks.items()},
            {7: b"seven", 8: b"eight", 9: b"nine"},
        )
        self.assertEqual(sorted(found), [7, 8, 9])
        self.assertEqual(
            {uid: result.items.flags for uid, result in found.items()},
            {7: (b"\\Seen",), 8: (), 9: ()},
        )


class BoxBodiesTests(PumpingMixin, SynchronousTestCase):
    """
    L{IMAPMailbox.fetch} sends the UIDs asked for while body fetches are
    at the server together, and each body's Deferred gets its own body.
    """

    def setUp(self) -> None:
        self.network = FakeNetwork(MailStore({"user": PASSWORD}))
        self.store = self.network.store(IMAPStoreConfig("far", account()))
        self.mailbox = self.resolve(self.store.open_box("INBOX"))
        assert isinstance(self.mailbox, IMAPMailbox)
        self.bodies = {
            n: b"X-TUID: t%011d\r\n\r\nbody %d\r\n" % (n, n) + b"x" * (n * 1000)
            for n in range(1, 41)
        }
        for n, body in self.bodies.items():
            flags = Flags.SEEN if n % 2 else Flags.NONE
            self.resolve(self.mailbox.store(BytesSource(body), flags))
        self.mark = len(self.network.commands())

    def fetches(self) -> list[bytes]:
        """
        The body fetches sent since setUp, shortened to their UID sets.
        """
        return [
            command.split(b" ")[2]
            for command in self.network.commands()[self.mark :]
            if command.startswith(b"UID FETCH") and b"BODY.PEEK[]" in command
        ]

    def read(self, fetched: Deferred[IMessageBody]) -> IMessageBody:
        body = self.resolve(fetched)
        return body

    def test_batched(self) -> None:
        """
        The first L{BODY_FETCHES_AT_ONCE} UIDs go alone; the next wait and
        go together, L{BODIES_PER_FETCH} at most per command; each body is
        the message of its UID with its flags, read whole.
        """
        wanted = list(range(1, 41))
        fetched = [self.mailbox.fetch(uid) for uid in wanted]
        bodies = [self.read(each) for each in fetched]
        for uid, body in zip(wanted, bodies, strict=True):
            self.assertEqual(body.uid, uid)
            self.assertEqual(
                self.successResultOf(Deferred.fromCoroutine(read_source(body))), self.bodies[uid]
            )
            self.assertEqual(body.flags, Flags.SEEN if uid % 2 else Flags.NONE)
        sets = self.fetches()
        self.assertEqual(sets[:BODY_FETCHES_AT_ONCE], [b"1", b"2"])
        self.assertGreater(len(sets), BODY_FETCHES_AT_ONCE)
        self.assertLess(len(sets), len(wanted))
        self.assertEqual(sets[2], b"3:%d" % (2 + BODIES_PER_FETCH))

    def test_missing_uid_fails_alone(self) -> None:
        """
        A UID the server does not answer for (expunged) fails with
        L{MessageError}; the others of its command are fetched.
        """
        fetched = {uid: self.mailbox.fetch(uid) for uid in (1, 2, 3, 99, 4)}
        self.resolve_failure(fetched[99], MessageError)
        for uid in (1, 2, 3, 4):
            self.assertEqual(self.read(fetched[uid]).uid, uid)
        self.assertIn(b"3:4,99", self.fetches())

    def test_refused_batch_one_by_one(self) -> None:
        """
        A batch the server refuses (NO) is fetched again one UID per
        command, so that only a message it will not give fails.
        """
        original = _TABLE[b"UID FETCH"][0]

        def refusing(server: FakeIMAPServer, command: Any) -> None:
            uid_set = command.arguments[0]
            if isinstance(uid_set, bytes) and (b"," in uid_set or b":" in uid_set):
                server._no(command, b"too many at once")
                return
            if uid_set == b"5":
                server._no(command, b"cannot read message 5")
                return
            original(server, command)

        entry = _TABLE[b"UID FETCH"]
        _TABLE[b"UID FETCH"] = (refusing, *entry[1:])
        self.addCleanup(_TABLE.__setitem__, b"UID FETCH", entry)
        fetched = {uid: self.mailbox.fetch(uid) for uid in range(1, 9)}
        self.resolve_failure(fetched[5], MessageError)
        for uid in (1, 2, 3, 4, 6, 7, 8):
            self.assertEqual(self.read(fetched[uid]).uid, uid)
        self.assertIn(b"3:8", self.fetches())
        self.assertEqual(self.fetches().count(b"5"), 1)

    def test_repeated_uid_own_command(self) -> None:
        """
        A UID asked for twice while waiting goes in a command of its own
        the second time, each request getting its own body.
        """
        fetched = [self.mailbox.fetch(uid) for uid in (1, 2, 3, 4, 3)]
        bodies = [self.read(each) for each in fetched]
        self.assertEqual([body.uid for body in bodies], [1, 2, 3, 4, 3])
        self.assertEqual(
            self.successResultOf(Deferred.fromCoroutine(read_source(bodies[4]))), self.bodies[3]
        )


class SpoolTests(SynchronousTestCase):
    """
    L{Spool} and L{SpooledBody}.
    """

    def read(self, body: SpooledBody) -> bytes:
        return self.successResultOf(Deferred.fromCoroutine(read_source(body)))

    def test_in_memory(self) -> None:
        """
        A small body stays in memory in the chunks received; it reads back
        whole, in chunks of at most the chunk size, any number of times.
        """
        spool = Spool()
        parts = [b"a" * 10, b"b" * 7, b"c" * 30]
        for part in parts:
            spool.write(part)
        body = SpooledBody(1, Flags.NONE, datetime(2024, 1, 1, tzinfo=UTC), spool, spool.size, 8)
        self.assertEqual(self.read(body), b"".join(parts))
        self.assertEqual(self.read(body), b"".join(parts))

        async def sizes() -> list[int]:
            return [len(chunk) async for chunk in body.chunks()]

        self.assertTrue(
            all(0 < size <= 8 for size in self.successResultOf(Deferred.fromCoroutine(sizes())))
        )

    def test_to_file(self) -> None:
        """
        A body growing past L{SPOOL_IN_MEMORY} moves to a temporary file
        (what was held goes there first) and reads back whole.
        """
        spool = Spool()
        parts = [bytes([n % 251]) * (SPOOL_IN_MEMORY // 3) for n in range(5)]
        for part in parts:
            spool.write(part)
        self.assertEqual(spool.size, sum(len(part) for part in parts))
        body = SpooledBody(2, Flags.SEEN, datetime(2024, 1, 1, tzinfo=UTC), spool, spool.size)
        self.assertEqual(self.read(body), b"".join(parts))
        spool.close()
