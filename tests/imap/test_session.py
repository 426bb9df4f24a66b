# -*- test-case-name: tests.imap.test_session -*-
"""
Tests for L{msync.imap.session}: the typed async IMAP API.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import (
    AuthenticationError,
    CommandFailed,
    LocalProtocolError,
    TLSError,
)
from msync.imap.commands import AppendMessage, StoreMode
from msync.imap.protocol import IMAPClientProtocol
from msync.imap.sasl import CramMD5Client, Mechanism, PlainClient, XOAuth2Client
from msync.imap.session import AppendResult, IMAPSession, ListEntry, MailboxStatus
from msync.imap.uids import UIDRange, UIDSet
from msync.imap.values import CopyUIDCode, ExistsResponse, Response
from msync.model import Secret
from tests.fakes.imapserver import ScriptedIMAPServer, expect, send, start_tls
from tests.fakes.pump import connect
from tests.fakes.transports import TLSRecordingTransport

T = TypeVar("T")

CAPS = b"IMAP4rev1 LITERAL+ UIDPLUS MOVE IDLE NAMESPACE ENABLE ID UNSELECT CONDSTORE"


class Client:
    """
    A session on a L{StringTransport}, with helpers to play the server.
    """

    def __init__(
        self,
        greeting: bytes = b"* PREAUTH [CAPABILITY " + CAPS + b"] hi\r\n",
        transport: StringTransport | None = None,
        disabled: tuple[bytes, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.clock = Clock()
        self.protocol = IMAPClientProtocol(self.clock, **kwargs)
        self.transport = transport if transport is not None else StringTransport()
        self.protocol.makeConnection(self.transport)
        self.protocol.dataReceived(greeting)
        self.session = IMAPSession(self.protocol, disabled_extensions=disabled)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> Deferred[T]:
        """
        @return: the coroutine, started.
        """
        return Deferred.fromCoroutine(coroutine)

    def sent(self) -> bytes:
        """
        @return: the bytes written since the last call.
        """
        data: bytes = self.transport.value()
        self.transport.clear()
        return data

    def receive(self, data: bytes) -> None:
        """
        Deliver server bytes.
        """
        self.protocol.dataReceived(data)

    def select(self) -> None:
        """
        Select INBOX.
        """
        selecting = self.run(self.session.select("INBOX"))
        self.sent()
        self.receive(b"A%d OK [READ-WRITE] ok\r\n" % (self.protocol.connection._next_tag - 1,))
        assert selecting.called


class ScriptedServer:
    """
    Answers commands one per L{tick}, oldest first; optionally like
    Exchange 2003, answering BAD to a command that arrives while another is
    unanswered.

    @ivar most: the most commands ever unanswered at once.
    """

    def __init__(self, client: Client, bad_when_busy: bool = False) -> None:
        self.client = client
        self.bad_when_busy = bad_when_busy
        self.unanswered: list[bytes] = []
        self.most = 0
        self.bad = 0

    def read(self) -> None:
        """
        Take the client's commands.
        """
        replies = b""
        for line in self.client.sent().splitlines():
            tag = line.split(b" ")[0]
            if self.bad_when_busy and self.unanswered:
                replies += tag + b" BAD command received while another is running\r\n"
                self.bad += 1
            else:
                self.unanswered.append(tag)
            self.most = max(self.most, len(self.unanswered))
        if replies:
            self.client.receive(replies)

    def run(self, deferred: Deferred[Any]) -> None:
        """
        Answer until C{deferred} has fired.
        """
        while not deferred.called:
            self.read()
            self.client.receive(self.unanswered.pop(0) + b" OK done\r\n")


class LoginTests(SynchronousTestCase):
    """
    LOGIN and AUTHENTICATE.
    """

    def test_login(self) -> None:
        """
        LOGIN sends the credentials; restated capabilities are not asked for.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        login = client.run(client.session.login("joe", Secret("pass word")))
        self.assertEqual(client.sent(), b'A1 LOGIN joe "pass word"\r\n')
        client.receive(b"A1 OK [CAPABILITY IMAP4rev1 UIDPLUS] in\r\n")
        self.successResultOf(login)
        self.assertEqual(client.sent(), b"")
        self.assertEqual(client.session.capabilities, {b"IMAP4REV1", b"UIDPLUS"})

    def test_login_rereads_capabilities(self) -> None:
        """
        Without a restatement, CAPABILITY is asked after LOGIN.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        login = client.run(client.session.login("joe", Secret("pw")))
        client.receive(b"A1 OK in\r\n")
        self.assertNoResult(login)
        self.assertEqual(client.sent(), b"A1 LOGIN joe pw\r\nA2 CAPABILITY\r\n")
        client.receive(b"* CAPABILITY IMAP4rev1 MOVE\r\nA2 OK\r\n")
        self.successResultOf(login)
        self.assertEqual(client.session.capabilities, {b"IMAP4REV1", b"MOVE"})

    def test_login_refused(self) -> None:
        """
        A refused LOGIN raises L{AuthenticationError} with the server's text
        and without the password.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        login = client.run(client.session.login("joe", Secret("hunter2")))
        client.receive(b"A1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
        error = str(self.failureResultOf(login, AuthenticationError).value)
        self.assertIn("Invalid credentials", error)
        self.assertNotIn("hunter2", error)

    def test_login_disabled(self) -> None:
        """
        LOGINDISABLED: LOGIN is refused locally, nothing is sent.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n")
        login = client.run(client.session.login("joe", Secret("pw")))
        self.failureResultOf(login, AuthenticationError)
        self.assertEqual(client.sent(), b"")

    def test_plain_with_sasl_ir(self) -> None:
        """
        PLAIN goes in the AUTHENTICATE line when the server has SASL-IR.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n")
        done = client.run(client.session.authenticate(PlainClient("joe", Secret("pw"))))
        self.assertEqual(client.sent(), b"A1 AUTHENTICATE PLAIN AGpvZQBwdw==\r\n")
        client.receive(b"A1 OK [CAPABILITY IMAP4rev1] in\r\n")
        self.successResultOf(done)

    def test_plain_without_sasl_ir(self) -> None:
        """
        Without SASL-IR, PLAIN answers the server's empty challenge.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n")
        done = client.run(client.session.authenticate(PlainClient("joe", Secret("pw"))))
        self.assertEqual(client.sent(), b"A1 AUTHENTICATE PLAIN\r\n")
        client.receive(b"+ \r\n")
        self.assertEqual(client.sent(), b"AGpvZQBwdw==\r\n")
        client.receive(b"A1 OK [CAPABILITY IMAP4rev1] in\r\n")
        self.successResultOf(done)

    def test_cram_md5(self) -> None:
        """
        The RFC 2195 example exchange.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5] hi\r\n")
        cram = CramMD5Client("tim", Secret("tanstaaftanstaaf"))
        done = client.run(client.session.authenticate(cram))
        self.assertEqual(client.sent(), b"A1 AUTHENTICATE CRAM-MD5\r\n")
        client.receive(b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n")
        self.assertEqual(client.sent(), b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n")
        client.receive(b"A1 OK [CAPABILITY IMAP4rev1] in\r\n")
        self.successResultOf(done)

    def test_xoauth2_error(self) -> None:
        """
        An XOAUTH2 error challenge is answered with an empty line; the NO
        becomes L{AuthenticationError} without the token.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n")
        done = client.run(client.session.authenticate(XOAuth2Client("joe", Secret("tok3n"))))
        initial = base64.b64encode(b"user=joe\x01auth=Bearer tok3n\x01\x01")
        self.assertEqual(client.sent(), b"A1 AUTHENTICATE XOAUTH2 " + initial + b"\r\n")
        client.receive(b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n")
        self.assertEqual(client.sent(), b"\r\n")
        client.receive(b"A1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
        error = str(self.failureResultOf(done, AuthenticationError).value)
        self.assertIn("Invalid credentials", error)
        self.assertNotIn("tok3n", error)

    def test_cancel_on_client_error(self) -> None:
        """
        A challenge the client cannot answer cancels with C{*}.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5] hi\r\n")
        done = client.run(client.session.authenticate(CramMD5Client("tim", Secret("pw"))))
        client.sent()
        client.receive(b"+ !!!not base64!!!\r\n")
        self.assertEqual(client.sent(), b"*\r\n")
        client.receive(b"A1 BAD cancelled\r\n")
        self.assertIn("base64", str(self.failureResultOf(done, AuthenticationError).value))

    def test_authenticate_with(self) -> None:
        """
        C{AuthMechs *} picks CRAM-MD5 without TLS, LOGIN when only it is offered.
        """
        greeting = b"* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5 AUTH=PLAIN] hi\r\n"
        client = Client(greeting)
        chosen = client.run(client.session.authenticate_with(("*",), "joe", Secret("pw"), False))
        self.assertEqual(client.sent(), b"A1 AUTHENTICATE CRAM-MD5\r\n")
        client.receive(b"+ PGFAYj4=\r\nA1 OK [CAPABILITY IMAP4rev1] in\r\n")
        self.assertEqual(self.successResultOf(chosen), Mechanism.CRAM_MD5)
        client = Client(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        chosen = client.run(client.session.authenticate_with(("*",), "joe", Secret("pw"), True))
        self.assertEqual(client.sent(), b"A1 LOGIN joe pw\r\n")
        client.receive(b"A1 OK [CAPABILITY IMAP4rev1] in\r\n")
        self.assertEqual(self.successResultOf(chosen), Mechanism.IMAP_LOGIN)

    def test_passwords_never_logged(self) -> None:
        """
        Neither LOGIN's password nor a PLAIN exchange appears in any log event.
        """
        with capturedLogs() as events:
            client = Client(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
            login = client.run(client.session.login("joe", Secret("pw-one")))
            client.receive(b"A1 OK [CAPABILITY IMAP4rev1] in\r\n")
            client = Client(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n")
            plain = client.run(client.session.authenticate(PlainClient("joe", Secret("pw-two"))))
            client.receive(b"+ \r\nA1 OK [CAPABILITY IMAP4rev1] in\r\n")
        self.successResultOf(login)
        self.successResultOf(plain)
        encoded = base64.b64encode(b"\0joe\0pw-two").decode()
        for event in events:
            for secret in ("pw-one", "pw-two", encoded):
                self.assertNotIn(secret, repr(event))


class GreetingTests(SynchronousTestCase):
    """
    The greeting.
    """

    def test_greeting(self) -> None:
        """
        An OK greeting is returned; a BYE greeting raises L{CommandFailed}.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
        self.assertEqual(self.successResultOf(client.run(client.session.greeting())).text, b"ready")
        client = Client(b"* BYE [UNAVAILABLE] too many connections\r\n")
        refused = self.failureResultOf(client.run(client.session.greeting()), CommandFailed).value
        self.assertEqual((refused.status, refused.code), (b"BYE", b"UNAVAILABLE"))
        self.assertIn("too many connections", str(refused))


class TLSTests(SynchronousTestCase):
    """
    STARTTLS never falls back to plaintext.
    """

    async def starttls_then_login(self, client: Client) -> None:
        """
        What a store does: STARTTLS, then LOGIN.
        """
        await client.session.starttls(object())  # type: ignore[arg-type]
        await client.session.login("joe", Secret("pw"))

    def test_not_offered(self) -> None:
        """
        STARTTLS required but not offered: L{TLSError}, nothing sent.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1] hi\r\n", TLSRecordingTransport())
        done = client.run(self.starttls_then_login(client))
        self.failureResultOf(done, TLSError)
        self.assertEqual(client.sent(), b"")

    def test_refused(self) -> None:
        """
        STARTTLS answered with NO: L{TLSError}, no LOGIN in plaintext.
        """
        client = Client(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n", TLSRecordingTransport())
        done = client.run(self.starttls_then_login(client))
        self.assertEqual(client.sent(), b"A1 STARTTLS\r\n")
        client.receive(b"A1 NO not now\r\n")
        self.assertIn("not now", str(self.failureResultOf(done, TLSError).value))
        self.assertEqual(client.sent(), b"")

    def test_success(self) -> None:
        """
        Capabilities are asked first if unknown, TLS starts after the OK,
        then they are re-read.
        """
        transport = TLSRecordingTransport()
        client = Client(b"* OK hi\r\n", transport)
        done = client.run(client.session.starttls(object()))  # type: ignore[arg-type]
        self.assertEqual(client.sent(), b"A1 CAPABILITY\r\n")
        client.receive(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nA1 OK\r\n")
        self.assertEqual(client.sent(), b"A2 STARTTLS\r\n")
        client.receive(b"A2 OK begin TLS\r\n")
        self.assertEqual(transport.written_before_tls, b"")
        self.assertEqual(client.sent(), b"A3 CAPABILITY\r\n")
        client.receive(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA3 OK\r\n")
        self.assertEqual(self.successResultOf(done), {b"IMAP4REV1", b"AUTH=PLAIN"})


class MailboxCommandTests(SynchronousTestCase):
    """
    The exact bytes and results of each command.
    """

    def test_simple_commands(self) -> None:
        """
        Each command's bytes, and its completion.
        """
        rows: list[tuple[Callable[[IMAPSession], Coroutine[Any, Any, Any]], bytes]] = [
            (lambda s: s.noop(), b"NOOP"),
            (lambda s: s.check(), b"CHECK"),
            (lambda s: s.expunge(), b"EXPUNGE"),
            (lambda s: s.create("Sent Items"), b'CREATE "Sent Items"'),
            (lambda s: s.delete("Entwürfe"), b"DELETE Entw&APw-rfe"),
            (lambda s: s.uid_expunge([3, 4, 5, 9]), b"UID EXPUNGE 3:5,9"),
            (
                lambda s: s.uid_store(UIDRange(4, 4), StoreMode.ADD, (b"\\Seen",)),
                b"UID STORE 4 +FLAGS.SILENT (\\Seen)",
            ),
            (
                lambda s: s.uid_store([1, 2], StoreMode.REMOVE, (b"\\Deleted", b"$Forwarded")),
                b"UID STORE 1:2 -FLAGS.SILENT (\\Deleted $Forwarded)",
            ),
            (lambda s: s.close(), b"CLOSE"),
            (lambda s: s.unselect(), b"UNSELECT"),
        ]
        for build, expected in rows:
            client = Client()
            client.select()
            done = client.run(build(client.session))
            self.assertEqual(client.sent(), b"A2 " + expected + b"\r\n")
            client.receive(b"A2 OK done\r\n")
            self.successResultOf(done)

    def test_list(self) -> None:
        """
        LIST returns entries with raw names, delimiter and attributes.
        """
        client = Client()
        listed = client.run(client.session.list("", "*"))
        self.assertEqual(client.sent(), b'A1 LIST "" *\r\n')
        client.receive(
            b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
            b'* LIST (\\Noselect) "/" "[Gmail]"\r\n'
            b"A1 OK done\r\n"
        )
        entries = self.successResultOf(listed)
        self.assertEqual(
            entries,
            [
                ListEntry(b"INBOX", b"/", (b"\\HasNoChildren",)),
                ListEntry(b"[Gmail]", b"/", (b"\\Noselect",)),
            ],
        )
        self.assertEqual([each.selectable for each in entries], [True, False])

    def test_lsub(self) -> None:
        """
        LSUB returns only LSUB data.
        """
        client = Client()
        listed = client.run(client.session.lsub("", "%"))
        self.assertEqual(client.sent(), b'A1 LSUB "" %\r\n')
        client.receive(b'* LSUB () "." Work\r\nA1 OK\r\n')
        self.assertEqual(self.successResultOf(listed), [ListEntry(b"Work", b".", ())])

    def test_select(self) -> None:
        """
        SELECT returns the mailbox status (RECENT too: the quick check's
        fingerprint may come from it).
        """
        client = Client()
        selected = client.run(client.session.select("INBOX", condstore=True))
        self.assertEqual(client.sent(), b"A1 SELECT INBOX (CONDSTORE)\r\n")
        client.receive(
            b"* 3 EXISTS\r\n* 1 RECENT\r\n* OK [UIDVALIDITY 42] v\r\n* OK [UIDNEXT 9] n\r\n"
            b"* OK [PERMANENTFLAGS (\\Seen \\*)] p\r\n* OK [HIGHESTMODSEQ 77] m\r\n"
            b"* FLAGS (\\Seen)\r\nA1 OK [READ-WRITE] ok\r\n"
        )
        self.assertEqual(
            self.successResultOf(selected),
            MailboxStatus(42, 9, 3, (b"\\Seen", b"\\*"), 77, False, (b"\\Seen",), 1),
        )

    def test_select_condstore_unsupported(self) -> None:
        """
        CONDSTORE is refused locally when the server lacks it.
        """
        client = Client(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
        selected = client.run(client.session.select("INBOX", condstore=True))
        self.failureResultOf(selected, LocalProtocolError)

    def test_select_fails(self) -> None:
        """
        A refused SELECT raises L{CommandFailed} with its code.
        """
        client = Client()
        selected = client.run(client.session.select("Nope"))
        client.receive(b"A1 NO [NONEXISTENT] no such mailbox\r\n")
        self.assertEqual(self.failureResultOf(selected, CommandFailed).value.code, b"NONEXISTENT")

    def test_examine(self) -> None:
        """
        EXAMINE is read-only.
        """
        client = Client()
        examined = client.run(client.session.examine("INBOX"))
        self.assertEqual(client.sent(), b"A1 EXAMINE INBOX\r\n")
        client.receive(b"A1 OK [READ-ONLY] ok\r\n")
        self.assertTrue(self.successResultOf(examined).read_only)

    def test_status(self) -> None:
        """
        STATUS returns the server's data.
        """
        client = Client()
        status = client.run(client.session.status("INBOX", (b"MESSAGES", b"UIDNEXT")))
        self.assertEqual(client.sent(), b"A1 STATUS INBOX (MESSAGES UIDNEXT)\r\n")
        client.receive(b"* STATUS INBOX (MESSAGES 4 UIDNEXT 10)\r\nA1 OK\r\n")
        result = self.successResultOf(status)
        self.assertEqual((result.messages, result.uid_next), (4, 10))

    def test_uid_fetch(self) -> None:
        """
        UID FETCH returns the requested messages only.
        """
        client = Client()
        client.select()
        fetched = client.run(client.session.uid_fetch(UIDRange(5, None), (b"UID", b"FLAGS")))
        self.assertEqual(client.sent(), b"A2 UID FETCH 5:* (UID FLAGS)\r\n")
        client.receive(
            b"* 1 FETCH (UID 4 FLAGS ())\r\n"
            b"* 2 FETCH (UID 5 FLAGS (\\Seen))\r\n"
            b"* 3 FETCH (UID 8 FLAGS ())\r\nA2 OK\r\n"
        )
        results = self.successResultOf(fetched)
        self.assertEqual(
            [(each.uid, each.items.flags) for each in results],
            [
                (5, (b"\\Seen",)),
                (8, ()),
            ],
        )

    def test_uid_fetch_on_result(self) -> None:
        """
        With C{on_result}, each response for a requested message is handed
        over as it arrives (a repeat too), none is kept, and the result is
        empty.
        """
        client = Client()
        client.select()
        seen: list[tuple[int, object]] = []
        fetched = client.run(
            client.session.uid_fetch(
                UIDRange(5, None),
                (b"UID", b"FLAGS"),
                on_result=lambda result: seen.append((result.uid, result.items.flags)),
            )
        )
        self.assertEqual(client.sent(), b"A2 UID FETCH 5:* (UID FLAGS)\r\n")
        client.receive(b"* 1 FETCH (UID 4 FLAGS ())\r\n* 2 FETCH (UID 5 FLAGS (\\Seen))\r\n")
        self.assertEqual(seen, [(5, (b"\\Seen",))])
        self.assertNoResult(fetched)
        client.receive(b"* 3 FETCH (UID 8 FLAGS ())\r\n* 2 FETCH (UID 5 FLAGS ())\r\nA2 OK\r\n")
        self.assertEqual(self.successResultOf(fetched), [])
        self.assertEqual(seen, [(5, (b"\\Seen",)), (8, ()), (5, ())])

    def test_uid_fetch_split(self) -> None:
        """
        A long UID set becomes several commands, all sent at once.
        """
        client = Client()
        client.select()
        uids = range(1, 2000, 2)
        fetched = client.run(client.session.uid_fetch(uids, (b"FLAGS",)))
        lines = client.sent().splitlines()
        self.assertGreater(len(lines), 3)
        self.assertTrue(all(len(line) < 1000 for line in lines))
        reply = b"".join(
            b"* %d FETCH (UID %d FLAGS ())\r\n" % (n, uid) for n, uid in enumerate(uids, 1)
        )
        client.receive(reply + b"".join(line.split(b" ")[0] + b" OK\r\n" for line in lines))
        self.assertEqual(len(self.successResultOf(fetched)), 1000)

    def test_uid_fetch_body(self) -> None:
        """
        The body is streamed to the consumer in chunks.
        """
        client = Client()
        client.select()
        chunks: list[bytes] = []
        fetched = client.run(client.session.uid_fetch_body(7, chunks.append))
        self.assertEqual(client.sent(), b"A2 UID FETCH 7 (BODY.PEEK[])\r\n")
        client.receive(b"* 1 FETCH (UID 7 BODY[] {10}\r\n01234")
        client.receive(b"56789)\r\nA2 OK\r\n")
        result = self.successResultOf(fetched)
        self.assertEqual(chunks, [b"01234", b"56789"])
        assert result is not None
        self.assertEqual(result.uid, 7)

    def test_concurrent_uid_fetch_bodies(self) -> None:
        """
        Body fetches run pipelined; each consumer gets its own message even
        when answers interleave, when the UID follows a body (delivered
        whole), and when another client's flag change for the same UID
        arrives first (the result is the response carrying the body).
        """
        client = Client()
        client.select()
        chunks: dict[int, list[bytes]] = {7: [], 8: [], 9: []}
        items = (b"UID", b"FLAGS", b"BODY.PEEK[]")
        fetched = {
            uid: client.run(client.session.uid_fetch_body(uid, chunks[uid].append, items))
            for uid in chunks
        }
        self.assertEqual(
            client.sent(),
            b"A2 UID FETCH 7 (UID FLAGS BODY.PEEK[])\r\n"
            b"A3 UID FETCH 8 (UID FLAGS BODY.PEEK[])\r\n"
            b"A4 UID FETCH 9 (UID FLAGS BODY.PEEK[])\r\n",
        )
        client.receive(b"* 3 FETCH (UID 9 BODY[] {4}\r\nnine FLAGS ())\r\n")
        client.receive(b"* 1 FETCH (FLAGS (\\Seen) BODY[] {5}\r\nseven UID 7)\r\n")
        client.receive(b"* 2 FETCH (UID 8 FLAGS (\\Flagged))\r\n")
        client.receive(b"* 2 FETCH (UID 8 FLAGS () BODY[] {5}\r\neight)\r\n")
        client.receive(b"A4 OK\r\nA3 OK\r\nA2 OK\r\n")
        self.assertEqual(
            {uid: b"".join(each) for uid, each in chunks.items()},
            {7: b"seven", 8: b"eight", 9: b"nine"},
        )
        results = {uid: self.successResultOf(each) for uid, each in fetched.items()}
        flags = {uid: each.items.flags for uid, each in results.items() if each is not None}
        self.assertEqual(flags, {7: (b"\\Seen",), 8: (), 9: ()})

    def test_append(self) -> None:
        """
        APPEND with flags and date returns the APPENDUID.
        """
        client = Client()
        when = datetime(2024, 3, 5, 14, 7, 9, tzinfo=timezone(timedelta(hours=1)))
        appended = client.run(
            client.session.append("INBOX", b"Hi\r\n", flags=(b"\\Seen",), internal_date=when)
        )
        self.assertEqual(
            client.sent(),
            b'A1 APPEND INBOX (\\Seen) "05-Mar-2024 14:07:09 +0100" {4+}\r\nHi\r\n\r\n',
        )
        client.receive(b"A1 OK [APPENDUID 42 17] done\r\n")
        self.assertEqual(self.successResultOf(appended), AppendResult(42, 17))

    def test_append_many(self) -> None:
        """
        One MULTIAPPEND; the APPENDUID set gives each message its UID in
        order, or none when it does not name one per message.
        """
        client = Client(b"* PREAUTH [CAPABILITY " + CAPS + b" MULTIAPPEND] hi\r\n")
        messages = [AppendMessage(b"A\r\n", (b"\\Seen",)), AppendMessage(b"B\r\n")]
        appended = client.run(client.session.append_many("INBOX", messages))
        self.assertEqual(client.sent(), b"A1 APPEND INBOX (\\Seen) {3+}\r\nA\r\n {3+}\r\nB\r\n\r\n")
        client.receive(b"A1 OK [APPENDUID 42 17,20] done\r\n")
        self.assertEqual(
            self.successResultOf(appended), [AppendResult(42, 17), AppendResult(42, 20)]
        )
        for code in (b"[APPENDUID 42 17]", b"[APPENDUID 42 17:19]", b""):
            appended = client.run(client.session.append_many("INBOX", messages))
            tag = client.sent().split(b" ")[0]
            client.receive(tag + b" OK " + code + b" done\r\n")
            self.assertEqual(self.successResultOf(appended), [AppendResult(None, None)] * 2)

    def test_append_synchronizing(self) -> None:
        """
        Without LITERAL+ the message waits for C{+}; without UIDPLUS no UID.
        """
        client = Client(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
        appended = client.run(client.session.append("INBOX", b"Hi\r\n"))
        self.assertEqual(client.sent(), b"A1 APPEND INBOX {4}\r\n")
        client.receive(b"+ Ready\r\n")
        self.assertEqual(client.sent(), b"Hi\r\n\r\n")
        client.receive(b"A1 OK done\r\n")
        self.assertEqual(self.successResultOf(appended), AppendResult(None, None))

    def test_copy_and_move(self) -> None:
        """
        UID COPY and UID MOVE return COPYUID codes, tagged or untagged.
        """
        client = Client()
        client.select()
        copied = client.run(client.session.uid_copy([1, 2], "Trash"))
        self.assertEqual(client.sent(), b"A2 UID COPY 1:2 Trash\r\n")
        client.receive(b"A2 OK [COPYUID 9 1:2 5:6] done\r\n")
        self.assertEqual(self.successResultOf(copied), [CopyUIDCode(9, ((1, 2),), ((5, 6),))])
        moved = client.run(client.session.uid_move([3], "Trash"))
        self.assertEqual(client.sent(), b"A3 UID MOVE 3 Trash\r\n")
        client.receive(b"* OK [COPYUID 9 3 7] moved\r\n* 1 EXPUNGE\r\nA3 OK done\r\n")
        self.assertEqual(self.successResultOf(moved), [CopyUIDCode(9, ((3, 3),), ((7, 7),))])

    def test_disabled_move(self) -> None:
        """
        C{DisableExtension MOVE}: UID MOVE is refused without being sent.
        """
        client = Client(disabled=(b"MOVE",))
        client.select()
        moved = client.run(client.session.uid_move([3], "Trash"))
        self.failureResultOf(moved, LocalProtocolError)
        self.assertEqual(client.sent(), b"")

    def test_namespace_enable_id(self) -> None:
        """
        NAMESPACE, ENABLE and ID return the server's data.
        """
        client = Client()
        spaces = client.run(client.session.namespace())
        self.assertEqual(client.sent(), b"A1 NAMESPACE\r\n")
        client.receive(b'* NAMESPACE (("" "/")) NIL NIL\r\nA1 OK\r\n')
        result = self.successResultOf(spaces)
        assert result is not None
        self.assertEqual(result.personal[0].delimiter, b"/")
        enabled = client.run(client.session.enable(b"CONDSTORE"))
        self.assertEqual(client.sent(), b"A2 ENABLE CONDSTORE\r\n")
        client.receive(b"* ENABLED CONDSTORE\r\nA2 OK\r\n")
        self.assertEqual(self.successResultOf(enabled), {b"CONDSTORE"})
        ident = client.run(client.session.id([("name", "msync")]))
        self.assertEqual(client.sent(), b'A3 ID ("name" "msync")\r\n')
        client.receive(b'* ID ("name" "Dovecot")\r\nA3 OK\r\n')
        self.assertEqual(self.successResultOf(ident), {b"name": b"Dovecot"})

    def test_capability_and_logout(self) -> None:
        """
        CAPABILITY returns the set; LOGOUT closes the transport.
        """
        client = Client()
        capabilities = client.run(client.session.capability())
        client.receive(b"* CAPABILITY IMAP4rev1 X-FOO\r\nA1 OK\r\n")
        self.assertEqual(self.successResultOf(capabilities), {b"IMAP4REV1", b"X-FOO"})
        logout = client.run(client.session.logout())
        self.assertEqual(client.sent(), b"A1 CAPABILITY\r\nA2 LOGOUT\r\n")
        client.receive(b"* BYE bye\r\nA2 OK\r\n")
        self.successResultOf(logout)
        self.assertTrue(client.transport.disconnecting)

    def test_idle(self) -> None:
        """
        IDLE delivers untagged data to the callback until DONE.
        """
        client = Client()
        client.select()
        seen: list[Response] = []
        idling = client.run(client.session.idle(seen.append))
        self.assertEqual(client.sent(), b"A2 IDLE\r\n")
        self.assertNoResult(idling)
        client.receive(b"+ idling\r\n* 4 EXISTS\r\n")
        self.successResultOf(idling)
        self.assertEqual(seen, [ExistsResponse(4)])
        done = client.run(client.session.done())
        self.assertEqual(client.sent(), b"DONE\r\n")
        client.receive(b"A2 OK done\r\n")
        self.successResultOf(done)
        self.assertIsNone(client.protocol.on_untagged)

    def test_idle_ended_by_done(self) -> None:
        """
        L{IMAPSession.idle_ended} fires once DONE is answered, and at once
        when not idling.
        """
        client = Client()
        client.select()
        self.successResultOf(client.session.idle_ended())
        idling = client.run(client.session.idle(lambda response: None))
        client.receive(b"+ idling\r\n")
        self.successResultOf(idling)
        ended = client.session.idle_ended()
        self.assertNoResult(ended)
        done = client.run(client.session.done())
        self.assertNoResult(ended)
        client.receive(b"A2 OK done\r\n")
        self.successResultOf(ended)
        self.successResultOf(done)

    def test_idle_connection_lost(self) -> None:
        """
        A connection lost while idling fires L{IMAPSession.idle_ended}, and
        a later L{IMAPSession.done} raises the loss (nothing is left
        unhandled).
        """
        from twisted.internet.error import ConnectionLost

        client = Client()
        client.select()
        idling = client.run(client.session.idle(lambda response: None))
        client.receive(b"+ idling\r\n")
        self.successResultOf(idling)
        ended = client.session.idle_ended()
        client.protocol.connectionLost(Failure(ConnectionLost("gone")))
        self.successResultOf(ended)
        self.assertIsNone(client.protocol.on_untagged)
        failure = self.failureResultOf(client.run(client.session.done()))
        self.assertIn("lost", str(failure.value))

    def test_idle_refused(self) -> None:
        """
        IDLE refused before idling raises L{CommandFailed}.
        """
        client = Client()
        client.select()
        idling = client.run(client.session.idle(lambda response: None))
        client.receive(b"A2 BAD no\r\n")
        self.failureResultOf(idling, CommandFailed)

    def test_compress(self) -> None:
        """
        COMPRESS is not implemented yet.
        """
        client = Client()
        self.failureResultOf(client.run(client.session.compress()), NotImplementedError)


class PipeliningTests(SynchronousTestCase):
    """
    The session pipelines within C{PipelineDepth}.
    """

    def test_depth_limits(self) -> None:
        """
        At most N commands are in flight for N = 1, 2, 50.
        """
        uids = UIDSet.of(range(1, 24000, 2))
        for depth in (1, 2, 50):
            client = Client(pipeline_depth=depth)
            client.select()
            server = ScriptedServer(client)
            stored = client.run(client.session.uid_store(uids, StoreMode.ADD, (b"\\Seen",)))
            server.run(stored)
            self.successResultOf(stored)
            self.assertEqual(server.most, depth)

    def test_exchange_2003(self) -> None:
        """
        A server answering BAD to pipelined commands works with depth 1 and
        fails with pipelining.
        """
        uids = UIDSet.of(range(1, 3000, 2))
        client = Client(pipeline_depth=1)
        client.select()
        server = ScriptedServer(client, bad_when_busy=True)
        stored = client.run(client.session.uid_store(uids, StoreMode.ADD, (b"\\Seen",)))
        server.run(stored)
        self.successResultOf(stored)
        self.assertEqual(server.bad, 0)
        client = Client(pipeline_depth=4)
        client.select()
        server = ScriptedServer(client, bad_when_busy=True)
        stored = client.run(client.session.uid_store(uids, StoreMode.ADD, (b"\\Seen",)))
        server.run(stored)
        self.failureResultOf(stored, CommandFailed)
        self.assertGreater(server.bad, 0)


class ScriptedSessionTests(SynchronousTestCase):
    """
    A whole sync-like session against L{ScriptedIMAPServer}, through the pump.
    """

    async def flow(self, session: IMAPSession) -> list[object]:
        """
        STARTTLS, log in, list, select, fetch, append, flag, expunge, log out.
        """
        await session.greeting()
        await session.starttls(object())  # type: ignore[arg-type]
        await session.authenticate_with(("*",), "joe", Secret("pw"), tls_active=True)
        listed = await session.list("", "*")
        status = await session.select("INBOX")
        fetched = await session.uid_fetch(UIDRange(1, None), (b"UID", b"FLAGS"))
        appended = await session.append("INBOX", b"Hi\r\n")
        await session.uid_store([1], StoreMode.ADD, (b"\\Deleted",))
        await session.uid_expunge([1])
        await session.logout()
        return [listed, status, [each.uid for each in fetched], appended]

    def test_scripted(self) -> None:
        """
        Every command's exact bytes, in order, and the typed results.
        """
        server = ScriptedIMAPServer(
            [
                send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
                expect(b"{t1} STARTTLS\r\n"),
                send(b"{t1} OK begin\r\n"),
                start_tls(),
                expect(b"{t2} CAPABILITY\r\n"),
                send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ UIDPLUS\r\n{t2} OK\r\n"),
                expect(b"{t3} AUTHENTICATE PLAIN AGpvZQBwdw==\r\n"),
                send(b"{t3} OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] in\r\n"),
                expect(b'{t4} LIST "" *\r\n'),
                send(b'* LIST () "/" INBOX\r\n{t4} OK\r\n'),
                expect(b"{t5} SELECT INBOX\r\n"),
                send(b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n{t5} OK [READ-WRITE] ok\r\n"),
                expect(b"{t6} UID FETCH 1:* (UID FLAGS)\r\n"),
                send(b"* 1 FETCH (UID 1 FLAGS ())\r\n{t6} OK\r\n"),
                expect(b"{t7} APPEND INBOX {4+}\r\nHi\r\n\r\n"),
                send(b"* 2 EXISTS\r\n{t7} OK [APPENDUID 7 2] ok\r\n"),
                expect(b"{t8} UID STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"),
                send(b"{t8} OK\r\n"),
                expect(b"{t9} UID EXPUNGE 1\r\n"),
                send(b"* 1 EXPUNGE\r\n{t9} OK\r\n"),
                expect(b"{t10} LOGOUT\r\n"),
                send(b"* BYE bye\r\n{t10} OK\r\n"),
            ]
        )
        protocol = IMAPClientProtocol(Clock())
        session = IMAPSession(protocol)
        pump = connect(protocol, server, flush=False)
        done = Deferred.fromCoroutine(self.flow(session))
        pump.flush()
        server.assert_finished()
        listed, status, uids, appended = self.successResultOf(done)
        self.assertEqual(listed, [ListEntry(b"INBOX", b"/", ())])
        self.assertEqual(status, MailboxStatus(7, None, 1, None, None, False))
        self.assertEqual(uids, [1])
        self.assertEqual(appended, AppendResult(7, 2))
        self.assertTrue(pump.disconnected)
        self.assertIsNone(session.selected)
