"""
Tests for L{msync.imap.earlytalk} and its handover to the Twisted protocol
(L{IMAPClientProtocol.take_over}): the early conversation sends only what
the Twisted path sends, and every outcome (a login, a refusal, a server
that misbehaves while the talk is speaking) is the same, worded the same,
wherever the talk was stopped. Scripted servers, no sockets, no reactor.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import LocalProtocolError, RemoteProtocolError
from msync.imap.commands import Command
from msync.imap.connection import ClientConnection
from msync.imap.earlytalk import EarlyLogin, EarlyTalk
from msync.imap.events import Greeting
from msync.imap.protocol import IMAPClientProtocol
from msync.imap.session import IMAPSession
from msync.imap.values import Status
from msync.model import Secret

LOGIN = EarlyLogin("user", Secret("sec ret"), ("LOGIN",))

OK_CAPS = b"* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready\r\n"
OK_BARE = b"* OK ready\r\n"
CAPABILITY_OK = b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"
LOGIN_OK = b"{tag} OK [CAPABILITY IMAP4rev1 NAMESPACE] logged in\r\n"
LOGIN_OK_BARE = b"{tag} OK logged in\r\n"
LOGIN_NO = b"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"

Script = dict[bytes, bytes | None]
"""A server's answer per command name (C{{tag}} is the command's tag);
C{None}: the server closes the connection instead."""


class _Server:
    """
    Answers each complete command line the client sent, by its name.

    @ivar sent: every byte the client sent, in order.
    @ivar closed: the server closed the connection.
    """

    def __init__(self, greeting: bytes, script: Script) -> None:
        self.pending = greeting
        self.script = script
        self.sent = b""
        self.closed = False
        self._buffer = b""
        # A command line that announced a synchronizing literal: the rest
        # comes once the server said "+".
        self._begun = b""

    def hear(self, data: bytes) -> None:
        """
        The client sent C{data}: queue the answers to its complete lines.
        """
        self.sent += data
        self._buffer += data
        while b"\r\n" in self._buffer and not self.closed:
            line, self._buffer = self._buffer.split(b"\r\n", 1)
            line, self._begun = self._begun + line, b""
            if line.endswith(b"}") and not line.endswith(b"+}"):
                self._begun = line
                self.pending += b"+ go ahead\r\n"
                continue
            tag, name = (line.split(b" ") + [b""])[:2]
            answer = self.script.get(name.upper(), b"{tag} BAD unknown\r\n")
            if answer is None:
                self.closed = True
            else:
                self.pending += answer.replace(b"{tag}", tag)

    def say(self) -> bytes:
        """
        What the server sent since the last call.
        """
        said, self.pending = self.pending, b""
        return said


def _early(server: _Server, steps: int, login: EarlyLogin | None = LOGIN) -> EarlyTalk:
    """
    Let a talk speak with C{server} for at most C{steps} reads, as the
    preconnect thread does (it stops at the end of the connection).
    """
    talk = EarlyTalk(ClientConnection(None), login)
    for _ in range(steps):
        if talk.done or not server.pending:
            break
        server.hear(talk.receive(server.say()))
    return talk


def _log_in(session: IMAPSession, login: EarlyLogin = LOGIN) -> Deferred[str]:
    """
    What the IMAP store does with a fresh plain connection: the greeting,
    then (unless PREAUTH) the login C{AuthMechs} chooses.
    """

    async def run() -> str:
        greeting = await session.greeting()
        if greeting.status is Status.PREAUTH:
            return "preauth"
        mechanism = await session.authenticate_with(
            login.auth_mechs, login.user, login.password, False
        )
        capabilities = await session.ensure_capabilities()
        return f"{mechanism.value} {b' '.join(sorted(capabilities)).decode()}"

    return Deferred.fromCoroutine(run())


def _outcome(
    greeting: bytes, script: Script, early_steps: int | None, login: EarlyLogin | None = LOGIN
) -> tuple[str, bytes]:
    """
    Log in over a scripted server, the Twisted path alone (C{early_steps}
    C{None}) or after an early talk of that many reads.

    @return: the outcome (the result, or the error's type and text) and
        every byte the client sent.
    """
    server = _Server(greeting, script)
    protocol = IMAPClientProtocol(Clock(), host="imap.example")
    if early_steps is not None:
        protocol.take_over(_early(server, early_steps, login))
    transport = StringTransport()
    protocol.makeConnection(transport)
    session = IMAPSession(protocol)
    result = _log_in(session, login or LOGIN)
    while not server.closed and (said := server.say()):
        protocol.dataReceived(said)
        server.hear(transport.value())
        transport.clear()
    if server.closed:
        protocol.connectionLost(Failure(ConnectionDone()))
    server.hear(transport.value())
    outcome: list[str] = []
    result.addCallbacks(
        outcome.append, lambda failure: outcome.append(f"{failure.type.__name__}: {failure.value}")
    )
    return outcome[0], server.sent


class HandoverTests(SynchronousTestCase):
    """
    The Twisted path after an early talk stopped anywhere gives what it
    gives alone, and sends the same bytes.
    """

    def check(
        self, greeting: bytes, script: Script, expected: str, login: EarlyLogin = LOGIN
    ) -> None:
        alone = _outcome(greeting, script, None, login)
        self.assertEqual(alone[0], expected)
        for steps in range(5):
            self.assertEqual(
                _outcome(greeting, script, steps, login), alone, f"after {steps} reads"
            )

    def test_login_with_literal(self) -> None:
        """
        A password sent as a synchronizing literal (8-bit, no LITERAL+):
        the talk sends the command's first line, and the protocol sends
        the rest when the server says "+", as without the talk.
        """
        login = EarlyLogin("user", Secret("p\u00e4ss"), ("LOGIN",))
        self.check(
            b"* OK [CAPABILITY IMAP4rev1] hi\r\n",
            {b"LOGIN": LOGIN_OK},
            "IMAP LOGIN IMAP4REV1 NAMESPACE",
            login,
        )
        sent = _outcome(b"* OK [CAPABILITY IMAP4rev1] hi\r\n", {b"LOGIN": LOGIN_OK}, 3, login)[1]
        self.assertEqual(sent, "A1 LOGIN user {5}\r\np\u00e4ss\r\n".encode())

    def test_login(self) -> None:
        """
        Capabilities in the greeting: LOGIN, with the ones it restates.
        """
        self.check(OK_CAPS, {b"LOGIN": LOGIN_OK}, "IMAP LOGIN IMAP4REV1 NAMESPACE")

    def test_capability_first(self) -> None:
        """
        No capabilities in the greeting: CAPABILITY, then LOGIN, then
        CAPABILITY again when the login's answer names none.
        """
        self.check(
            OK_BARE,
            {b"CAPABILITY": CAPABILITY_OK, b"LOGIN": LOGIN_OK_BARE},
            "IMAP LOGIN AUTH=PLAIN IMAP4REV1",
        )

    def test_login_refused(self) -> None:
        """
        A refused login fails as it does without the talk.
        """
        self.check(
            OK_CAPS,
            {b"LOGIN": LOGIN_NO},
            "AuthenticationError: LOGIN as user refused: Authentication failed.",
        )

    def test_bye(self) -> None:
        """
        A BYE greeting: refused, nothing sent.
        """
        self.check(
            b"* BYE [UNAVAILABLE] go away\r\n",
            {},
            "CommandFailed: IMAP command greeting failed: BYE [UNAVAILABLE] go away",
        )

    def test_preauth(self) -> None:
        """
        PREAUTH: nothing to log in.
        """
        self.check(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n", {}, "preauth")

    def test_garbage_greeting(self) -> None:
        """
        Garbage for a greeting: the same protocol error.
        """
        self.check(
            b")(garbage\r\n",
            {},
            "RemoteProtocolError: malformed IMAP response: expected tag at offset 0"
            " near b')(garbage' in b')(garbage'",
        )

    def test_garbage_after_login(self) -> None:
        """
        Garbage in LOGIN's answer: the same protocol error.
        """
        alone = _outcome(OK_CAPS, {b"LOGIN": b")(garbage\r\n"}, None)
        self.assertTrue(alone[0].startswith("RemoteProtocolError: "), alone)
        for steps in range(5):
            self.assertEqual(_outcome(OK_CAPS, {b"LOGIN": b")(garbage\r\n"}, steps), alone)

    def test_bad_capability(self) -> None:
        """
        CAPABILITY refused: no LOGIN goes out, the same failure.
        """
        self.check(
            OK_BARE,
            {b"CAPABILITY": b"{tag} BAD [PARSE] no\r\n"},
            "CommandFailed: IMAP command CAPABILITY failed: BAD [PARSE] no",
        )

    def test_dropped(self) -> None:
        """
        The server closes the connection instead of answering LOGIN, or
        CAPABILITY: the same loss, named the same.
        """
        lost = (
            "ConnectionLost: Connection to the other side was lost in a non-clean"
            " fashion: IMAP connection to imap.example lost."
        )
        self.check(OK_CAPS, {b"LOGIN": None}, lost)
        self.check(OK_BARE, {b"CAPABILITY": None}, lost)

    def test_check_messages(self) -> None:
        """
        The expected texts above are the Twisted path's own (guarding the
        guard: a wrong expectation fails).
        """
        self.assertNotEqual(_outcome(OK_CAPS, {b"LOGIN": LOGIN_NO}, 2)[0], "preauth")


class EarlyTalkTests(SynchronousTestCase):
    """
    What L{EarlyTalk} sends, and when it stops.
    """

    def talk(
        self, greeting: bytes, script: Script, login: EarlyLogin | None = LOGIN
    ) -> tuple[EarlyTalk, bytes]:
        server = _Server(greeting, script)
        talk = _early(server, 10, login)
        self.assertTrue(talk.done)
        return talk, server.sent

    def test_login_sent(self) -> None:
        """
        C{LOGIN} goes out once the greeting names the capabilities; its
        answer ends the talk. The password is sent as configured.
        """
        talk, sent = self.talk(OK_CAPS, {b"LOGIN": LOGIN_OK})
        self.assertEqual(sent, b'A1 LOGIN user "sec ret"\r\n')
        self.assertEqual([command.name for command, tag in talk.sent], [b"LOGIN"])
        # Its answer is left for the protocol.
        self.assertEqual([type(event) for event in talk.events], [Greeting])

    def test_capability_only(self) -> None:
        """
        Without capabilities in the greeting, CAPABILITY, and nothing more.
        """
        talk, sent = self.talk(OK_BARE, {b"CAPABILITY": CAPABILITY_OK, b"LOGIN": LOGIN_OK})
        self.assertEqual(sent, b"A1 CAPABILITY\r\n")

    def test_no_login_without_credentials(self) -> None:
        """
        Without C{Pass} (a command or a prompt gives it later), only the
        greeting is read.
        """
        talk, sent = self.talk(OK_CAPS, {}, login=None)
        self.assertEqual((sent, talk.sent), (b"", []))

    def test_never_what_authmechs_refuses(self) -> None:
        """
        The password goes out in the clear only where the Twisted path
        sends it: not for C{AuthMechs *} without TLS, not for another
        mechanism, not when the server says LOGINDISABLED.
        """
        cases = [
            (OK_CAPS, ("*",)),
            (OK_CAPS, ("PLAIN",)),
            (b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=LOGIN] hi\r\n", ("LOGIN",)),
        ]
        for greeting, mechanisms in cases:
            login = EarlyLogin("user", Secret("pw"), mechanisms)
            talk, sent = self.talk(greeting, {}, login=login)
            self.assertEqual((sent, talk.sent), (b"", []), mechanisms)

    def test_split_anywhere(self) -> None:
        """
        The greeting split anywhere gives the same LOGIN, once.
        """
        for cut in range(1, len(OK_CAPS)):
            talk = EarlyTalk(ClientConnection(None), LOGIN)
            sent = talk.receive(OK_CAPS[:cut]) + talk.receive(OK_CAPS[cut:])
            self.assertEqual(sent, b'A1 LOGIN user "sec ret"\r\n', cut)

    def test_garbage_kept(self) -> None:
        """
        A protocol error ends the talk and is kept for the protocol.
        """
        talk = EarlyTalk(ClientConnection(None), LOGIN)
        self.assertEqual(talk.receive(b"* OK hi\r\n)(\r\n"), b"")
        self.assertTrue(talk.done)
        self.assertIsInstance(talk.error, RemoteProtocolError)

    def test_take_over_other_settings(self) -> None:
        """
        The protocol refuses a talk whose connection was made with other
        settings than its own.
        """
        talk = EarlyTalk(ClientConnection(3, disabled_capabilities=[b"MOVE"]), LOGIN)
        protocol = IMAPClientProtocol(Clock(), pipeline_depth=3)
        self.assertRaises(LocalProtocolError, protocol.take_over, talk)
        protocol = IMAPClientProtocol(Clock(), pipeline_depth=3, disabled_extensions=[b"move"])
        protocol.take_over(talk)
        self.assertIs(protocol.connection, talk.connection)

    def test_other_command_first(self) -> None:
        """
        A first command that is not the talk's forgets the talk's: it goes
        out itself, and the talk's answer is dropped.
        """
        server = _Server(OK_CAPS, {b"LOGIN": LOGIN_OK, b"NOOP": b"{tag} OK noop\r\n"})
        protocol = IMAPClientProtocol(Clock())
        protocol.take_over(_early(server, 1))
        transport = StringTransport()
        protocol.makeConnection(transport)
        noop = protocol.execute(Command.noop())
        # Behind the talk's LOGIN, a barrier, until it is answered.
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(server.say())
        self.assertEqual(transport.value(), b"A2 NOOP\r\n")
        server.hear(transport.value())
        protocol.dataReceived(server.say())
        self.assertEqual(self.successResultOf(noop).response.text, b"noop")
        self.assertEqual(protocol._early_outcomes, {})  # noqa: SLF001
