# -*- test-case-name: tests.imap.test_earlytalk -*-
"""
The first exchanges of a plain IMAP connection, held before Twisted is
loaded (L{msync.imap.preconnect} drives it over the blocking socket) and
handed to the Twisted protocol, which goes on from there
(L{msync.imap.protocol.IMAPClientProtocol.take_over}).

A run's start-up (importing Twisted, the runner and the stores) takes
longer than a few round trips to the server: the greeting is read and
C{LOGIN} (or C{CAPABILITY}, if the greeting names none) sent meanwhile,
on the very L{ClientConnection} the protocol then uses (same
tags, same capabilities, same parser), so the store logs in without
waiting.

Invariants:
  - One command at most, the one the Twisted path sends first on the
    same inputs, and only once greeted with C{OK}: C{CAPABILITY} when the
    greeting named no capabilities (as C{IMAPSession.ensure_capabilities}
    asks), else C{LOGIN} only if
    L{choose_mechanism} picks the IMAP C{LOGIN} command for the account's
    C{AuthMechs} over this plaintext connection (C{SSLType None}, no
    C{Tunnel}) and the server does not say C{LOGINDISABLED}: exactly when
    C{IMAPSession.authenticate_with} would send it, with the same user and
    password (given in the configuration: no C{UserCmd}, C{PassCmd} or
    prompt). Its answer is not read here: it waits in the socket for the
    protocol, so the connection's state (its capabilities above all) is
    the one the session expects after the greeting. Anything else (BYE,
    PREAUTH, another mechanism, a protocol error) sends nothing, and the
    Twisted path does the rest as if nothing had been exchanged.
  - Every event taken from the connection is kept, in order
    (L{EarlyTalk.events}), with the commands sent and their tags
    (L{EarlyTalk.sent}) and the protocol error that killed the connection,
    if any (L{EarlyTalk.error}): the protocol handles them as it would
    have handled them on arrival, so every outcome (a refused login, a
    BYE, garbage from the server) gives the same errors, worded the same.
  - Nothing here does I/O: L{EarlyTalk.receive} takes what the server sent
    and returns what to send.
"""

from __future__ import annotations

from msync.config.schema import IMAPAccount, SSLType
from msync.errors import AuthenticationError, RemoteProtocolError
from msync.imap.commands import Command
from msync.imap.connection import ClientConnection
from msync.imap.events import ConnectionEvent, Greeting
from msync.imap.sasl import Mechanism, choose_mechanism
from msync.imap.values import NEED_DATA, Status
from msync.model import Secret
from msync.records import record

__all__ = ["EarlyLogin", "EarlyTalk", "account_connection", "account_login"]


@record
class EarlyLogin:
    """
    What C{LOGIN} needs, from the account's configuration.

    @ivar user: C{User}.
    @ivar password: C{Pass}.
    @ivar auth_mechs: C{AuthMechs}.
    """

    user: str
    password: Secret
    auth_mechs: tuple[str, ...]


def account_login(account: IMAPAccount) -> EarlyLogin | None:
    """
    What C{LOGIN} is sent with for C{account}: its C{User} and C{Pass}, or
    C{None} when one of them comes from a command or a prompt, or the
    account speaks TLS (the login waits for it: only the greeting is read).
    """
    if account.user is None or account.password is None or account.ssl_type is not SSLType.NONE:
        return None
    return EarlyLogin(account.user, account.password, account.auth_mechs)


def account_connection(account: IMAPAccount) -> ClientConnection:
    """
    A connection made as the IMAP store's protocol makes its own for
    C{account} (C{PipelineDepth}, C{DisableExtension}).
    """
    disabled = [each.encode("ascii") for each in account.disabled_extensions]
    return ClientConnection(account.pipeline_depth, disabled_capabilities=disabled)


class EarlyTalk:
    """
    The greeting, and the C{CAPABILITY} or C{LOGIN} after it, of one plain
    connection.

    @ivar connection: the protocol state, the protocol's from the handover.
    @ivar events: every event taken from the connection, in order.
    @ivar sent: the commands submitted, with their tags, in order.
    @ivar error: the protocol error that killed the connection, if any.
    @ivar done: nothing more will be sent or asked for.
    @ivar login: the credentials C{LOGIN} is sent with, if any.
    """

    def __init__(self, connection: ClientConnection, login: EarlyLogin | None) -> None:
        """
        @param connection: a fresh connection, made as the protocol makes
            its own (C{PipelineDepth}, C{DisableExtension}).
        @param login: the account's credentials, or C{None}: stop once the
            capabilities are known.
        """
        self.connection = connection
        self.events: list[ConnectionEvent] = []
        self.sent: list[tuple[Command, bytes]] = []
        self.error: RemoteProtocolError | None = None
        self.done = False
        self.login = login
        self._greeting: Greeting | None = None

    @classmethod
    def for_account(cls, account: IMAPAccount) -> EarlyTalk:
        """
        The talk of a C{SSLType None} or C{STARTTLS} account without a
        Tunnel (for C{STARTTLS}, the greeting alone, and C{CAPABILITY} if
        it names none: C{STARTTLS} itself is the Twisted path's).
        """
        return cls(account_connection(account), account_login(account))

    def made_for(self, account: IMAPAccount) -> bool:
        """
        Whether this talk is the one L{for_account} makes for C{account}:
        the same credentials and connection settings (another account on
        the same server must not take a connection logged in as this one).
        """
        made = account_connection(account)
        return self.login == account_login(account) and (
            self.connection.pipeline_depth,
            self.connection.disabled,
        ) == (made.pipeline_depth, made.disabled)

    def receive(self, data: bytes) -> bytes:
        """
        Take what the server sent and go as far as it allows.

        @param data: bytes from the server, split anywhere (C{b""}: none).
        @return: the bytes to send now (possibly none).
        """
        if self.done:
            return b""
        self.connection.receive_data(data)
        try:
            while (event := self.connection.next_event()) is not NEED_DATA:
                self.events.append(event)
                if isinstance(event, Greeting):
                    self._greeting = event
        except RemoteProtocolError as error:
            self.error = error
            self.done = True
            return b""
        self._advance()
        return self.connection.data_to_send()

    def _submit(self, command: Command) -> None:
        self.sent.append((command, self.connection.submit(command)))

    def _advance(self) -> None:
        """
        Once greeted, send the command the Twisted path sends next, and
        stop: its answer is left for the protocol to read (an answer read
        here would move the connection's state, its capabilities, ahead of
        what the session then asks).
        """
        greeting = self._greeting
        if greeting is None:
            return
        self.done = True
        if greeting.status is not Status.OK:
            # BYE: refused; PREAUTH: no login to send.
            return
        capabilities = self.connection.capabilities
        if capabilities is None:
            # IMAPSession.ensure_capabilities asks first.
            self._submit(Command.capability())
            return
        login = self.login
        if login is None:
            return
        try:
            mechanism = choose_mechanism(login.auth_mechs, capabilities, False, False)
        except AuthenticationError:
            return
        if mechanism is Mechanism.IMAP_LOGIN and b"LOGINDISABLED" not in capabilities:
            self._submit(Command.login(login.user, login.password))
