"""
Tests for L{tests.fakes.imapserver} (and L{tests.fakes.imapscript}), driven
with raw client bytes through L{tests.fakes.pump}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.fakes.imapserver import (
    DEFAULT_CAPABILITIES,
    DEFAULT_OPTIONS,
    FakeIMAPServer,
    FakeIMAPServerFactory,
    MailStore,
    ScriptedIMAPServer,
    ScriptMismatch,
    ServerOptions,
    close,
    expect,
    send,
    start_tls,
)
from tests.fakes.pump import IOPump, connect
from tests.fakes.test_imapwire import RawPeer

MESSAGE = b"From: a@example.org\r\nSubject: Hi\r\nTo: b@example.org\r\n\r\nBody\r\n"


class Session:
    """
    A raw client talking to a server through a pump.
    """

    def __init__(self, server: FakeIMAPServer | ScriptedIMAPServer) -> None:
        self.client = RawPeer()
        self.server = server
        self.pump: IOPump = connect(self.client, server)

    def take(self) -> bytes:
        """
        @return: what the client received since the last call.
        """
        received, self.client.received = self.client.received, b""
        return received

    def say(self, data: bytes) -> bytes:
        """
        Send C{data} in one chunk, pump, and return the answer.
        """
        self.take()
        self.pump.client_transport.write(data)
        self.pump.flush()
        return self.take()


def _stateful(
    options: ServerOptions = DEFAULT_OPTIONS, login: bool = True, clock: Clock | None = None
) -> tuple[Session, MailStore]:
    store = MailStore({"user": "pass"})
    store.add_message(b"INBOX", MESSAGE, [b"\\Seen"], datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    store.add_message(b"INBOX", MESSAGE.replace(b"Hi", b"Two"))
    session = Session(FakeIMAPServer(store, options, clock))
    if login:
        session.say(b"L1 LOGIN user pass\r\n")
    return session, store


class ScriptedServerTests(SynchronousTestCase):
    """
    Tests for L{ScriptedIMAPServer}.
    """

    def test_plays_script_with_tags(self) -> None:
        """
        The greeting is sent at once; placeholders capture the client's tag
        and replies use it.
        """
        server = ScriptedIMAPServer(
            [
                send(b"* OK hi\r\n"),
                expect(b"{tag} CAPABILITY\r\n"),
                send(b"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n"),
            ]
        )
        session = Session(server)
        self.assertEqual(session.take(), b"* OK hi\r\n")
        answer = session.say(b"X7 CAPABILITY\r\n")
        self.assertEqual(answer, b"* CAPABILITY IMAP4rev1\r\nX7 OK done\r\n")
        self.assertEqual(server.tags, {"tag": b"X7"})
        server.assert_finished()

    def test_pipelined_tags(self) -> None:
        """
        Several named tags in one step match pipelined commands and can be
        answered out of order; a name used again must repeat its tag.
        """
        server = ScriptedIMAPServer(
            [
                expect(b"{a} NOOP\r\n{b} NOOP\r\n"),
                send(b"{b} OK second\r\n{a} OK first\r\n"),
                expect(b"{a} NOOP\r\n"),
            ]
        )
        session = Session(server)
        answer = session.say(b"A1 NOOP\r\nA2 NOOP\r\n")
        self.assertEqual(answer, b"A2 OK second\r\nA1 OK first\r\n")
        error = self.assertRaises(ScriptMismatch, session.say, b"A3 NOOP\r\n")
        self.assertIn("A1 NOOP", str(error))

    def test_literal_markers_are_not_placeholders(self) -> None:
        """
        C{{5}} and C{{5+}} in a script are IMAP literals, matched verbatim.
        """
        server = ScriptedIMAPServer(
            [expect(b"{t} LOGIN {4}\r\n"), send(b"+ go\r\n"), expect(b"user {4+}\r\npass\r\n")]
        )
        session = Session(server)
        self.assertEqual(session.say(b"A1 LOGIN {4}\r\n"), b"+ go\r\n")
        session.say(b"user {4+}\r\npass\r\n")
        server.assert_finished()

    def test_mismatch_shows_diff(self) -> None:
        """
        Unexpected client bytes raise L{ScriptMismatch} naming both sides,
        with a diff.
        """
        server = ScriptedIMAPServer([expect(b"{t} LOGIN user pass\r\n")])
        session = Session(server)
        error = self.assertRaises(ScriptMismatch, session.say, b"A1 LOGIN user secret\r\n")
        message = str(error)
        self.assertIn("A1 LOGIN user secret", message)
        self.assertIn("{t} LOGIN user pass", message)
        self.assertIn("--- expected", message)

    def test_extra_bytes_after_script(self) -> None:
        """
        Client bytes after the last step are a mismatch too.
        """
        session = Session(ScriptedIMAPServer([send(b"* OK\r\n")]))
        self.assertRaises(ScriptMismatch, session.say, b"A1 NOOP\r\n")

    def test_unfinished(self) -> None:
        """
        L{ScriptedIMAPServer.assert_finished} fails while steps remain.
        """
        server = ScriptedIMAPServer([send(b"* OK\r\n"), expect(b"{t} NOOP\r\n")])
        Session(server)
        self.assertFalse(server.finished)
        self.assertRaises(ScriptMismatch, server.assert_finished)

    def test_close_and_start_tls(self) -> None:
        """
        C{start_tls} starts TLS on the server transport; C{close} drops the
        connection.
        """
        context = object()
        server = ScriptedIMAPServer(
            [
                expect(b"{t} STARTTLS\r\n"),
                send(b"{t} OK go\r\n"),
                start_tls(),
                expect(b"{u} NOOP\r\n"),
                close(),
            ],
            tls_context=context,
        )
        session = Session(server)
        session.say(b"A1 STARTTLS\r\n")
        self.assertEqual(session.pump.server_transport.tls_starts, [context])
        session.say(b"A2 NOOP\r\n")
        assert session.client.lost is not None
        session.client.lost.trap(ConnectionDone)
        server.assert_finished()


class AuthenticationTests(SynchronousTestCase):
    """
    The stateful server's greeting, LOGIN, AUTHENTICATE and STARTTLS.
    """

    def test_greeting_capabilities(self) -> None:
        """
        The greeting lists IMAP4rev1 first, then the switched-on extensions
        and AUTH= mechanisms.
        """
        session, _ = _stateful(login=False)
        greeting = session.client.received
        self.assertEqual(
            greeting,
            b"* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5 AUTH=PLAIN CONDSTORE IDLE"
            b" LITERAL+ MOVE NAMESPACE UIDPLUS] Fake IMAP ready.\r\n",
        )

    def test_login(self) -> None:
        """
        LOGIN succeeds with the right password only; before it, SELECT is BAD.
        """
        session, _ = _stateful(login=False)
        self.assertEqual(
            session.say(b"A1 SELECT INBOX\r\n"),
            b"A1 BAD Not allowed in state not-authenticated\r\n",
        )
        self.assertEqual(
            session.say(b"A2 LOGIN user wrong\r\n"),
            b"A2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        )
        self.assertTrue(session.say(b'A3 LOGIN "user" {4}\r\n').startswith(b"+ "))
        self.assertTrue(session.say(b"pass\r\n").startswith(b"A3 OK [CAPABILITY IMAP4rev1"))
        assert isinstance(session.server, FakeIMAPServer)
        self.assertEqual(session.server.user, "user")

    def test_authenticate_plain(self) -> None:
        """
        AUTHENTICATE PLAIN works with an initial response and with a continuation.
        """
        token = base64.b64encode(b"\0user\0pass")
        session, _ = _stateful(login=False)
        self.assertIn(b"A1 OK", session.say(b"A1 AUTHENTICATE PLAIN " + token + b"\r\n"))
        session, _ = _stateful(login=False)
        self.assertEqual(session.say(b"A1 AUTHENTICATE PLAIN\r\n"), b"+ \r\n")
        self.assertIn(b"A1 OK", session.say(token + b"\r\n"))

    def test_authenticate_cram_md5(self) -> None:
        """
        CRAM-MD5 accepts the HMAC of the challenge and rejects anything else;
        C{*} cancels.
        """
        session, _ = _stateful(login=False)
        challenge = base64.b64decode(session.say(b"A1 AUTHENTICATE CRAM-MD5\r\n")[2:])
        digest = hmac.new(b"pass", challenge, hashlib.md5).hexdigest().encode()
        self.assertIn(b"A1 OK", session.say(base64.b64encode(b"user " + digest) + b"\r\n"))
        session, _ = _stateful(login=False)
        session.say(b"A1 AUTHENTICATE CRAM-MD5\r\n")
        self.assertIn(b"A1 NO", session.say(base64.b64encode(b"user 0123") + b"\r\n"))
        session.say(b"A2 AUTHENTICATE CRAM-MD5\r\n")
        self.assertEqual(session.say(b"*\r\n"), b"A2 BAD Authentication cancelled\r\n")

    def test_starttls(self) -> None:
        """
        With STARTTLS and LOGINDISABLED, LOGIN waits for TLS; STARTTLS starts
        it on the server's transport, and bytes pipelined behind it are
        discarded rather than executed.
        """
        context = object()
        store = MailStore()
        server = FakeIMAPServer(
            store, ServerOptions(starttls=True, login_requires_tls=True), tls_context=context
        )
        session = Session(server)
        self.assertIn(b"STARTTLS", session.client.received)
        self.assertIn(b"LOGINDISABLED", session.client.received)
        self.assertIn(b"A1 NO [PRIVACYREQUIRED]", session.say(b"A1 LOGIN user pass\r\n"))
        answer = session.say(b"A2 STARTTLS\r\nA3 LOGIN user pass\r\n")
        self.assertEqual(answer, b"A2 OK Begin TLS negotiation now\r\n")
        self.assertEqual(server.injected, b"A3 LOGIN user pass\r\n")
        self.assertEqual(session.pump.server_transport.tls_starts, [context])
        capabilities = session.say(b"A4 CAPABILITY\r\n")
        self.assertNotIn(b"STARTTLS", capabilities)
        self.assertIn(b"A5 OK", session.say(b"A5 LOGIN user pass\r\n"))

    def test_preauth_and_logout(self) -> None:
        """
        PREAUTH greets as the first user; LOGOUT says BYE and closes.
        """
        session, _ = _stateful(ServerOptions(preauth=True), login=False)
        self.assertTrue(session.client.received.startswith(b"* PREAUTH [CAPABILITY "))
        self.assertEqual(session.say(b"A1 LOGOUT\r\n"), b"* BYE Logging out\r\nA1 OK done\r\n")
        assert session.client.lost is not None
        session.client.lost.trap(ConnectionDone)


class MailboxTests(SynchronousTestCase):
    """
    Mailbox-level commands of the stateful server.
    """

    def test_select(self) -> None:
        """
        SELECT reports flags, counts, UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ.
        """
        session, store = _stateful()
        validity = store.mailboxes[b"INBOX"].uid_validity
        self.assertEqual(
            session.say(b"A1 SELECT inbox\r\n"),
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags\r\n"
            b"* 2 EXISTS\r\n* 0 RECENT\r\n"
            b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
            b"* OK [UIDNEXT 3] Predicted next UID\r\n"
            b"* OK [HIGHESTMODSEQ 3] Highest\r\n"
            b"A1 OK [READ-WRITE] Selected\r\n" % validity,
        )
        self.assertIn(b"[NONEXISTENT]", session.say(b"A2 SELECT Nope\r\n"))

    def test_create_list_delete(self) -> None:
        """
        Nested mailboxes list with C{/}, children flags, C{*} and C{%} patterns;
        DELETE removes one; NAMESPACE and STATUS answer.
        """
        session, _ = _stateful()
        for name in [b"Archive", b"Archive/2024", b"Entw&APw-rfe", b'"a b"']:
            self.assertIn(b"OK", session.say(b"C CREATE " + name + b"\r\n"))
        self.assertIn(b"[ALREADYEXISTS]", session.say(b"C CREATE Archive\r\n"))
        self.assertEqual(
            session.say(b'L LIST "" *\r\n'),
            b'* LIST (\\HasChildren) "/" Archive\r\n'
            b'* LIST (\\HasNoChildren) "/" Archive/2024\r\n'
            b'* LIST (\\HasNoChildren) "/" Entw&APw-rfe\r\n'
            b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
            b'* LIST (\\HasNoChildren) "/" "a b"\r\n'
            b"L OK done\r\n",
        )
        self.assertEqual(
            session.say(b'L LSUB "Archive/" %\r\n'),
            b'* LSUB (\\HasNoChildren) "/" Archive/2024\r\nL OK done\r\n',
        )
        self.assertIn(b"OK", session.say(b"D DELETE Archive/2024\r\n"))
        self.assertNotIn(b"Archive/2024", session.say(b'L LIST "" *\r\n'))
        self.assertEqual(
            session.say(b"N NAMESPACE\r\n"), b'* NAMESPACE (("" "/")) NIL NIL\r\nN OK done\r\n'
        )
        self.assertEqual(
            session.say(b"S STATUS INBOX (MESSAGES UNSEEN UIDNEXT)\r\n"),
            b"* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3)\r\nS OK done\r\n",
        )

    def test_append(self) -> None:
        """
        APPEND takes a synchronizing literal (after C{+}) or a LITERAL+ one,
        keeps flags and date, and answers APPENDUID; a missing mailbox gets TRYCREATE.
        """
        session, store = _stateful()
        validity = store.mailboxes[b"INBOX"].uid_validity
        self.assertEqual(session.say(b"A1 APPEND INBOX {5}\r\n"), b"+ Ready for literal data\r\n")
        self.assertEqual(
            session.say(b"abc\r\n\r\n"),
            b"A1 OK [APPENDUID %d 3] Append completed\r\n" % validity,
        )
        answer = session.say(
            b'A2 APPEND INBOX (\\Flagged $Work) " 2-Mar-2024 10:00:00 +0100" {4+}\r\nx\r\ny\r\n'
        )
        self.assertEqual(answer, b"A2 OK [APPENDUID %d 4] Append completed\r\n" % validity)
        message = store.mailboxes[b"INBOX"].messages[-1]
        self.assertEqual((message.uid, message.body), (4, b"x\r\ny"))
        self.assertEqual(message.flags, {b"\\Flagged", b"$Work"})
        self.assertEqual(message.internal_date, datetime(2024, 3, 2, 9, 0, tzinfo=UTC))
        self.assertIn(b"[TRYCREATE]", session.say(b"A3 APPEND Nope {1+}\r\nx\r\n"))

    def test_idle(self) -> None:
        """
        During IDLE, new mail in the selected mailbox is announced; DONE ends it.
        """
        session, store = _stateful()
        session.say(b"S SELECT INBOX\r\n")
        self.assertEqual(session.say(b"I IDLE\r\n"), b"+ idling\r\n")
        store.add_message(b"INBOX", MESSAGE)
        session.pump.flush()
        self.assertEqual(session.take(), b"* 3 EXISTS\r\n")
        self.assertEqual(session.say(b"DONE\r\n"), b"I OK IDLE terminated\r\n")


class MessageTests(SynchronousTestCase):
    """
    UID-addressed message commands of the stateful server.
    """

    def setUp(self) -> None:
        """
        Log in and select INBOX (two messages, UIDs 1 and 2).
        """
        self.session, self.store = _stateful()
        self.session.say(b"S SELECT INBOX\r\n")
        self.inbox = self.store.mailboxes[b"INBOX"]

    def test_fetch(self) -> None:
        """
        UID FETCH returns UID, FLAGS, size, date and the body, without
        setting \\Seen for BODY.PEEK.
        """
        answer = self.session.say(
            b"F UID FETCH 1:* (FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])\r\n"
        )
        second = MESSAGE.replace(b"Hi", b"Two")
        self.assertEqual(
            answer,
            b'* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE %d INTERNALDATE "06-May-2024'
            b' 07:08:09 +0000" BODY[] {%d}\r\n%s)\r\n'
            b'* 2 FETCH (UID 2 FLAGS () RFC822.SIZE %d INTERNALDATE "01-Jan-2024'
            b' 00:00:00 +0000" BODY[] {%d}\r\n%s)\r\n'
            b"F OK done\r\n"
            % (len(MESSAGE), len(MESSAGE), MESSAGE, len(second), len(second), second),
        )
        self.assertEqual(self.inbox.messages[1].flags, set())

    def test_fetch_header_fields_and_seen(self) -> None:
        """
        BODY.PEEK[HEADER.FIELDS (...)] returns just those header lines; BODY[]
        sets \\Seen and reports the new FLAGS; C{5:*} names the last message.
        """
        answer = self.session.say(b"F UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT TO)])\r\n")
        self.assertEqual(
            answer,
            b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT TO)] {35}\r\n"
            b"Subject: Two\r\nTo: b@example.org\r\n\r\n)\r\nF OK done\r\n",
        )
        answer = self.session.say(b"G UID FETCH 5:* (BODY[])\r\n")
        self.assertTrue(answer.startswith(b"* 2 FETCH (UID 2 BODY[] {"))
        self.assertIn(b"FLAGS (\\Seen))\r\nG OK", answer)

    def test_store(self) -> None:
        """
        UID STORE adds, removes and replaces flags, echoing FETCH unless .SILENT.
        """
        self.assertEqual(
            self.session.say(b"A UID STORE 1:2 +FLAGS (\\Flagged)\r\n"),
            b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen))\r\n"
            b"* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\nA OK done\r\n",
        )
        self.assertEqual(
            self.session.say(b"B UID STORE 1 -FLAGS.SILENT (\\Seen)\r\n"), b"B OK done\r\n"
        )
        self.session.say(b"C UID STORE 2 FLAGS.SILENT ($Junk)\r\n")
        self.assertEqual([m.flags for m in self.inbox.messages], [{b"\\Flagged"}, {b"$Junk"}])

    def test_conditional_store(self) -> None:
        """
        With CONDSTORE, UNCHANGEDSINCE protects changed messages (MODIFIED)
        and CHANGEDSINCE filters FETCH.
        """
        modseq = self.inbox.messages[0].modseq
        self.session.say(b"A UID STORE 2 +FLAGS.SILENT (\\Answered)\r\n")
        answer = self.session.say(
            b"B UID STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Draft)\r\n" % modseq
        )
        self.assertEqual(answer, b"B OK [MODIFIED 2] Conditional STORE failed\r\n")
        self.assertIn(b"\\Draft", self.inbox.messages[0].flags)
        answer = self.session.say(b"C UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)\r\n" % (modseq + 1))
        self.assertEqual(re.findall(rb"UID (\d+)", answer), [b"1", b"2"])

    def test_copy_move_expunge(self) -> None:
        """
        UID COPY and MOVE answer COPYUID; MOVE and UID EXPUNGE remove exactly
        their messages; CLOSE expunges the rest of \\Deleted.
        """
        self.session.say(b"C CREATE Archive\r\n")
        archive = self.store.mailboxes[b"Archive"]
        self.assertEqual(
            self.session.say(b"A UID COPY 1:2 Archive\r\n"),
            b"A OK [COPYUID %d 1:2 1:2] Copy completed\r\n" % archive.uid_validity,
        )
        self.assertEqual(
            self.session.say(b"B UID MOVE 2 Archive\r\n"),
            b"* OK [COPYUID %d 2 3] Moved\r\n* 2 EXPUNGE\r\nB OK Move completed\r\n"
            % archive.uid_validity,
        )
        self.assertEqual([m.uid for m in archive.messages], [1, 2, 3])
        self.session.say(b"S SELECT Archive\r\n")
        self.session.say(b"D UID STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\n")
        self.assertEqual(self.session.say(b"E UID EXPUNGE 2\r\n"), b"* 2 EXPUNGE\r\nE OK done\r\n")
        self.assertEqual(self.session.say(b"F CLOSE\r\n"), b"F OK done\r\n")
        self.assertEqual(archive.messages, [])
        self.assertIn(b"[TRYCREATE]", self.session.say(b"S SELECT INBOX\r\nG UID COPY 1 Nope\r\n"))


class SwitchTests(SynchronousTestCase):
    """
    Capability and misbehaviour switches.
    """

    def test_capabilities_off(self) -> None:
        """
        Without MOVE, UIDPLUS and NAMESPACE those commands are BAD, and APPEND
        answers without APPENDUID.
        """
        options = ServerOptions(capabilities=frozenset({b"IMAP4rev1"}))
        session, _ = _stateful(options)
        session.say(b"S SELECT INBOX\r\n")
        self.assertIn(b"M BAD", session.say(b"M UID MOVE 1 INBOX\r\n"))
        self.assertIn(b"E BAD", session.say(b"E UID EXPUNGE 1\r\n"))
        self.assertIn(b"N BAD", session.say(b"N NAMESPACE\r\n"))
        self.assertEqual(session.say(b"A APPEND INBOX {1}\r\n"), b"+ Ready for literal data\r\n")
        self.assertEqual(session.say(b"x\r\n"), b"* 3 EXISTS\r\nA OK Append completed\r\n")
        self.assertNotIn(b"CONDSTORE", session.say(b"C CAPABILITY\r\n"))
        self.assertLessEqual({b"UIDPLUS", b"LITERAL+"}, DEFAULT_CAPABILITIES)

    def test_reject_pipelining(self) -> None:
        """
        Like Exchange 2003, a command arriving while another is in flight
        gets BAD; one at a time works.
        """
        session, _ = _stateful(ServerOptions(reject_pipelining=True))
        self.assertEqual(
            session.say(b"A NOOP\r\nB NOOP\r\n"),
            b"A OK done\r\nB BAD Command received in Invalid state.\r\n",
        )
        self.assertEqual(session.say(b"C NOOP\r\n"), b"C OK done\r\n")

    def test_drop_in_literal(self) -> None:
        """
        The server hangs up halfway through an APPEND literal; nothing is stored.
        """
        session, store = _stateful(ServerOptions(drop_in_literal=True))
        session.say(b"A APPEND INBOX {10+}\r\n0123456789\r\n")
        assert session.client.lost is not None
        self.assertEqual(len(store.mailboxes[b"INBOX"].messages), 2)

    def test_garbage(self) -> None:
        """
        The chosen command is answered with garbage.
        """
        session, _ = _stateful(ServerOptions(garbage_on=b"SELECT", garbage=b"* \x00junk\r\n"))
        self.assertEqual(session.say(b"S SELECT INBOX\r\n"), b"* \x00junk\r\n")

    def test_delay(self) -> None:
        """
        Responses wait for the clock; commands meanwhile are answered
        together when it has advanced.
        """
        clock = Clock()
        session, _ = _stateful(ServerOptions(response_delay=2.0), login=False, clock=clock)
        self.assertEqual(session.say(b"A NOOP\r\n"), b"")
        clock.advance(1)
        self.assertEqual(session.say(b"B NOOP\r\n"), b"")
        clock.advance(1)
        session.pump.flush()
        self.assertEqual(session.take(), b"A OK done\r\nB OK done\r\n")
        self.assertRaises(ValueError, FakeIMAPServer, MailStore(), ServerOptions(response_delay=1))

    def test_bad_syntax(self) -> None:
        """
        Unparseable or unknown commands get BAD, and the session goes on.
        """
        session, _ = _stateful()
        self.assertIn(b"A BAD", session.say(b"A LIST (\r\n"))
        self.assertIn(b"B BAD Unknown command", session.say(b"B FROB\r\n"))
        self.assertIn(b"C BAD", session.say(b"C SELECT\r\n"))
        self.assertEqual(session.say(b"D NOOP\r\n"), b"D OK done\r\n")

    def test_factory(self) -> None:
        """
        The factory builds servers sharing its store and options.
        """
        store = MailStore()
        factory = FakeIMAPServerFactory(store, ServerOptions(starttls=True))
        first, second = factory.buildProtocol(None), factory.buildProtocol(None)
        self.assertIs(first.store, second.store)
        self.assertEqual(factory.servers, [first, second])
        self.assertTrue(first.options.starttls)
