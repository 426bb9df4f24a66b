# -*- test-case-name: tests.fakes.test_imapserver -*-
"""
The in-memory mail and the switches behind L{tests.fakes.imapserver}.

Invariants: mailbox names are wire bytes (modified UTF-7 is not decoded);
messages are kept by ascending UID, so a message's sequence number is its
index + 1; every change to a message raises the mailbox's MODSEQ
(RFC 7162); each created mailbox gets a fresh UIDVALIDITY.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_CAPABILITIES = frozenset(
    {b"IMAP4rev1", b"LITERAL+", b"UIDPLUS", b"MOVE", b"NAMESPACE", b"IDLE", b"CONDSTORE"}
)
SYSTEM_FLAGS = (b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Seen", b"\\Draft")


@dataclass(slots=True)
class FakeMessage:
    """
    A message in a L{FakeMailbox}.
    """

    uid: int
    body: bytes
    flags: set[bytes]
    internal_date: datetime
    modseq: int


@dataclass(slots=True)
class FakeMailbox:
    """
    A mailbox: messages by ascending UID, so sequence number = index + 1.
    """

    name: bytes
    uid_validity: int
    uid_next: int = 1
    highest_modseq: int = 1
    messages: list[FakeMessage] = field(default_factory=list)
    vanished: list[tuple[int, int]] = field(default_factory=list)

    def append(
        self, body: bytes, flags: Iterable[bytes] = (), date: datetime | None = None
    ) -> FakeMessage:
        """
        Add a message with the next UID.
        """
        self.highest_modseq += 1
        message = FakeMessage(
            self.uid_next,
            body,
            set(flags),
            date or datetime(2024, 1, 1, tzinfo=UTC),
            self.highest_modseq,
        )
        self.uid_next += 1
        self.messages.append(message)
        return message

    def expunge(self, message: FakeMessage) -> None:
        """
        Remove C{message}, remembering its UID and the mod-sequence of its
        expunge for QRESYNC (C{VANISHED (EARLIER)}).
        """
        self.messages.remove(message)
        self.highest_modseq += 1
        self.vanished.append((message.uid, self.highest_modseq))

    def touch(self, message: FakeMessage) -> None:
        """
        Record a change to C{message} for CONDSTORE.
        """
        self.highest_modseq += 1
        message.modseq = self.highest_modseq


class MailStore:
    """
    The mail of all users of a fake server (one namespace, delimiter C{/}).

    @ivar users: login name to password.
    @ivar mailboxes: by wire name; C{INBOX} always exists.
    """

    def __init__(self, users: dict[str, str] | None = None, uid_validity: int = 1000) -> None:
        self.users = dict(users if users is not None else {"user": "pass"})
        self.mailboxes: dict[bytes, FakeMailbox] = {}
        self._next_validity = uid_validity
        self._watchers: list[Callable[[FakeMailbox], None]] = []
        self.create(b"INBOX")

    def create(self, name: bytes) -> FakeMailbox:
        """
        Create a mailbox (with a fresh UIDVALIDITY) and return it.
        """
        box = FakeMailbox(name, self._next_validity)
        self._next_validity += 1
        self.mailboxes[name] = box
        return box

    def get(self, name: bytes) -> FakeMailbox | None:
        """
        @return: the mailbox, C{INBOX} matched case-insensitively.
        """
        return self.mailboxes.get(b"INBOX" if name.upper() == b"INBOX" else name)

    def add_message(
        self,
        name: bytes,
        body: bytes,
        flags: Iterable[bytes] = (),
        date: datetime | None = None,
    ) -> int:
        """
        Deliver a message behind the clients' backs (IDLE sessions hear of it).

        @return: its UID.
        """
        box = self.get(name) or self.create(name)
        message = box.append(body, flags, date)
        self.changed(box)
        return message.uid

    def watch(self, watcher: Callable[[FakeMailbox], None]) -> None:
        """
        Call C{watcher} with each mailbox that changes.
        """
        self._watchers.append(watcher)

    def unwatch(self, watcher: Callable[[FakeMailbox], None]) -> None:
        """
        Stop calling C{watcher}.
        """
        self._watchers.remove(watcher)

    def changed(self, box: FakeMailbox) -> None:
        """
        Tell the watchers that C{box} changed.
        """
        for watcher in list(self._watchers):
            watcher(box)


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """
    What a L{FakeIMAPServer} offers, and how it misbehaves.

    @ivar capabilities: advertised (besides AUTH=, STARTTLS, LOGINDISABLED).
    @ivar auth_mechanisms: SASL mechanisms offered, of PLAIN and CRAM-MD5.
    @ivar starttls: offer STARTTLS before TLS is up.
    @ivar login_requires_tls: advertise LOGINDISABLED and refuse LOGIN before TLS.
    @ivar greeting_capabilities: put C{[CAPABILITY ...]} in the greeting.
    @ivar preauth: greet with PREAUTH as the first user.
    @ivar reject_pipelining: like Exchange 2003, answer BAD to a command
        that arrives while another is in flight.
    @ivar drop_in_literal: close the connection halfway through the first
        literal the client sends.
    @ivar garbage_on: a command name; it is answered with C{garbage} instead.
    @ivar garbage: unparseable response bytes.
    @ivar response_delay: seconds to hold each command's responses (needs C{clock}).
    @ivar after_starttls: bytes sent in plaintext right behind the OK to
        STARTTLS, in the same segment (a STARTTLS injection).
    @ivar repeat_bodies: send every FETCH response carrying a body twice.
    @ivar foreign_body: C{(uid, data)}: after every FETCH response carrying
        a body, also send a C{BODY[]} of C{data} for that UID.
    @ivar foreign_uid_after: name the foreign body's UID after its literal.
    @ivar alert: text of an untagged C{[ALERT]} sent after the greeting.
    @ivar nomodseq: with CONDSTORE, every mailbox is C{NOMODSEQ} (RFC 7162
        §3.1.2.2): SELECT says so, FETCH with MODSEQ or CHANGEDSINCE is NO.
    @ivar namespace: the NAMESPACE answer's data.
    """

    capabilities: frozenset[bytes] = DEFAULT_CAPABILITIES
    auth_mechanisms: tuple[bytes, ...] = (b"PLAIN", b"CRAM-MD5")
    starttls: bool = False
    login_requires_tls: bool = False
    greeting_capabilities: bool = True
    preauth: bool = False
    reject_pipelining: bool = False
    drop_in_literal: bool = False
    garbage_on: bytes | None = None
    garbage: bytes = b"* \x00\xff)( {oops}\r\n"
    response_delay: float = 0.0
    after_starttls: bytes = b""
    repeat_bodies: bool = False
    foreign_body: tuple[int, bytes] | None = None
    foreign_uid_after: bool = False
    alert: bytes = b""
    nomodseq: bool = False
    namespace: bytes = b'(("" "/")) NIL NIL'


DEFAULT_OPTIONS = ServerOptions()
"""
A well-behaved server with the L{DEFAULT_CAPABILITIES}.
"""
