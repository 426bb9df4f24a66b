# -*- test-case-name: tests.fakes.test_imapserver -*-
"""
A stateful fake IMAP server for unit tests, joined to a client by
L{tests.fakes.pump}; the scripted one lives in L{tests.fakes.imapscript}
and is re-exported here.

L{FakeIMAPServer} keeps mail in a shared L{MailStore}; L{ServerOptions}
switch capabilities (UIDPLUS, LITERAL+, MOVE, NAMESPACE, STARTTLS, CONDSTORE,
IDLE, AUTH mechanisms) and misbehaviour (BAD on pipelining like Exchange
2003, dropping the connection mid-literal, garbage, delayed responses).

Invariants: flags are bytes such as C{b"\\Seen"}; commands are dispatched
through one table (name -> handler, valid states, required capability);
time comes only from the injected clock; messages are addressed by UID
(sequence numbers appear only in untagged responses).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from tests.fakes.imapscript import (
    ScriptedIMAPServer,
    ScriptMismatch,
    Step,
    close,
    expect,
    send,
    start_tls,
)
from tests.fakes.imapwire import (
    IMAPSyntaxError,
    Token,
    format_internal_date,
    format_uid_set,
    parse_internal_date,
    parse_uid_set,
    quote,
    tokenize,
)
from tests.fakes.mailstore import (
    DEFAULT_CAPABILITIES,
    DEFAULT_OPTIONS,
    SYSTEM_FLAGS,
    FakeMailbox,
    FakeMessage,
    MailStore,
    ServerOptions,
)

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_OPTIONS",
    "FakeIMAPServer",
    "FakeIMAPServerFactory",
    "FakeMailbox",
    "FakeMessage",
    "MailStore",
    "ScriptMismatch",
    "ScriptedIMAPServer",
    "ServerOptions",
    "Step",
    "close",
    "expect",
    "send",
    "start_tls",
]


@dataclass(frozen=True, slots=True)
class _Command:
    tag: bytes
    name: bytes
    arguments: list[Token]


_NOT_AUTHENTICATED = frozenset({"not-authenticated"})
_AUTHENTICATED = frozenset({"authenticated", "selected"})
_SELECTED = frozenset({"selected"})
_ANY = frozenset({"not-authenticated", "authenticated", "selected"})


class FakeIMAPServer(Protocol):
    """
    A stateful IMAP4rev1 server over a L{MailStore}; see L{ServerOptions}.

    @ivar commands: every complete command received, raw (for assertions).
    @ivar batches: the same, grouped by the chunk of input each completed
        in: commands in one batch were sent without waiting for an answer.
    @ivar state: C{not-authenticated}, C{authenticated}, C{selected}, C{logout}.
    @ivar user: who logged in, or C{None}.
    @ivar injected: bytes that followed STARTTLS in the same chunk (a client
        bug: CVE-2011-0411-style injection); discarded, kept for assertions.
    @ivar lost: why the connection ended, once it has.
    """

    def __init__(
        self,
        store: MailStore,
        options: ServerOptions = DEFAULT_OPTIONS,
        clock: IReactorTime | None = None,
        tls_context: object = None,
    ) -> None:
        if options.response_delay and clock is None:
            raise ValueError("response_delay needs a clock")
        self.store = store
        self.options = options
        self.clock = clock
        self.tls_context = tls_context
        self.commands: list[bytes] = []
        self.batches: list[list[bytes]] = []
        self.state = "not-authenticated"
        self.user: str | None = None
        self.tls = False
        self.selected: FakeMailbox | None = None
        self.read_only = False
        self.condstore = False
        self.qresync = False
        self.injected = b""
        self.lost: Failure | None = None
        self._buffer = b""
        self._current = b""
        self._literal_left = 0
        self._literal_seen = 0
        self._mode = "command"
        self._pending: _Command | None = None
        self._challenge = b""
        self._arrived_in_chunk = 0
        self._held: list[bytes] | None = None
        self._dropped = False
        self._challenges = 0

    # Connection events.

    def connectionMade(self) -> None:
        """
        Greet, with capabilities unless switched off.
        """
        code = (
            b"[CAPABILITY " + self._capabilities() + b"] "
            if self.options.greeting_capabilities
            else b""
        )
        if self.options.preauth:
            self.state, self.user = "authenticated", next(iter(self.store.users))
            self._write(b"* PREAUTH " + code + b"Logged in as " + self.user.encode())
        else:
            self._write(b"* OK " + code + b"Fake IMAP ready.")
        if self.options.alert:
            self._write(b"* OK [ALERT] " + self.options.alert)

    def dataReceived(self, data: bytes) -> None:
        """
        Split commands (literals and continuations included) and run them.
        """
        if self._dropped:
            return
        self._buffer += data
        self._arrived_in_chunk = 0
        self.batches.append([])
        while not self._dropped and self._consume():
            pass

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Stop watching the store.
        """
        self.lost = reason
        if self._mode == "idle":
            self.store.unwatch(self._idle_notice)

    # Input framing.

    def _consume(self) -> bool:
        """
        Make one step of progress on the buffer; C{False} when more input is needed.
        """
        if self._literal_left:
            return self._consume_literal()
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return False
        line, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
        if self._mode == "idle":
            self._idle_line(line)
            return True
        if self._mode == "sasl":
            self._sasl_line(line)
            return True
        self._current += line
        literal = re.search(rb"\{(\d+)(\+?)\}\r\n\Z", line)
        if literal is not None:
            self._literal_left = int(literal.group(1))
            self._literal_seen = 0
            if not literal.group(2):
                # RFC 3501 §7.5: a synchronizing literal waits for "+".
                self._write(b"+ Ready for literal data")
            return True
        raw, self._current = self._current, b""
        self._arrived(raw)
        return True

    def _consume_literal(self) -> bool:
        if not self._buffer:
            return False
        take = self._buffer[: self._literal_left]
        if self.options.drop_in_literal:
            half = (self._literal_seen + self._literal_left) // 2
            if self._literal_seen + len(take) >= half:
                self._dropped = True
                self.transport.loseConnection()  # type: ignore[union-attr]
                return False
        self._buffer = self._buffer[len(take) :]
        self._current += take
        self._literal_left -= len(take)
        self._literal_seen += len(take)
        return True

    def _arrived(self, raw: bytes) -> None:
        self.commands.append(raw)
        self.batches[-1].append(raw)
        tag = raw.split(b" ", 1)[0].rstrip(b"\r\n") or b"*"
        try:
            tokens = tokenize(raw)
        except IMAPSyntaxError as error:
            self._write(tag + b" BAD " + str(error).encode())
            return
        if len(tokens) < 2 or not all(isinstance(token, bytes) for token in tokens[:2]):
            self._write(tag + b" BAD Missing command")
            return
        name = tokens[1].upper()  # type: ignore[union-attr]
        arguments = tokens[2:]
        if name == b"UID" and arguments and isinstance(arguments[0], bytes):
            name, arguments = b"UID " + arguments[0].upper(), arguments[1:]
        command = _Command(tag, name, arguments)
        in_flight = self._arrived_in_chunk > 0 or self._held is not None
        self._arrived_in_chunk += 1
        if self.options.reject_pipelining and in_flight:
            # What Exchange 2003 answers to a pipelined command.
            self._write(tag + b" BAD Command received in Invalid state.")
            return
        if name == self.options.garbage_on:
            self.transport.write(self.options.garbage)  # type: ignore[union-attr]
            return
        self._hold()
        self._dispatch(command)

    def _hold(self) -> None:
        if self.options.response_delay and self._held is None:
            assert self.clock is not None
            self._held = []
            self.clock.callLater(self.options.response_delay, self._release)

    def _release(self) -> None:
        held, self._held = self._held or [], None
        if not self._dropped:
            self.transport.write(b"".join(held))  # type: ignore[union-attr]

    def _write(self, line: bytes) -> None:
        data = line + b"\r\n"
        if self._held is not None:
            self._held.append(data)
        else:
            self.transport.write(data)  # type: ignore[union-attr]

    # Dispatch.

    def _dispatch(self, command: _Command) -> None:
        entry = _TABLE.get(command.name)
        if entry is None or (entry[2] is not None and entry[2] not in self._capability_set()):
            self._write(command.tag + b" BAD Unknown command " + command.name)
            return
        handler, states, _ = entry
        if self.state not in states:
            self._write(command.tag + b" BAD Not allowed in state " + self.state.encode())
            return
        try:
            handler(self, command)
        except (IMAPSyntaxError, IndexError, ValueError) as error:
            self._write(command.tag + b" BAD " + str(error).encode())

    def _capability_set(self) -> set[bytes]:
        caps = set(self.options.capabilities)
        caps.update(b"AUTH=" + mechanism for mechanism in self.options.auth_mechanisms)
        if self.options.starttls and not self.tls:
            caps.add(b"STARTTLS")
        if self.options.login_requires_tls and not self.tls:
            caps.add(b"LOGINDISABLED")
        return caps

    def _capabilities(self) -> bytes:
        caps = self._capability_set() - {b"IMAP4rev1"}
        return b" ".join([b"IMAP4rev1", *sorted(caps)])

    def _ok(self, command: _Command, text: bytes = b"done") -> None:
        self._write(command.tag + b" OK " + text)

    def _no(self, command: _Command, text: bytes) -> None:
        self._write(command.tag + b" NO " + text)

    def _bad(self, command: _Command, text: bytes) -> None:
        self._write(command.tag + b" BAD " + text)

    def _box_argument(self, token: Token) -> bytes:
        if not isinstance(token, bytes):
            raise IMAPSyntaxError("mailbox name expected")
        return b"INBOX" if token.upper() == b"INBOX" else token

    # Any state.

    def _capability(self, command: _Command) -> None:
        self._write(b"* CAPABILITY " + self._capabilities())
        self._ok(command)

    def _noop(self, command: _Command) -> None:
        self._ok(command)

    def _logout(self, command: _Command) -> None:
        self._write(b"* BYE Logging out")
        self._ok(command)
        self.state = "logout"
        self.transport.loseConnection()  # type: ignore[union-attr]

    # Not authenticated.

    def _starttls(self, command: _Command) -> None:
        if not self.options.starttls or self.tls:
            self._write(command.tag + b" BAD STARTTLS not available")
            return
        self._ok(command, b"Begin TLS negotiation now")
        if self.options.after_starttls:
            self.transport.write(self.options.after_starttls)  # type: ignore[union-attr]
        # RFC 3501 §6.2.1: anything the client sent after STARTTLS before the
        # handshake must not be executed.
        self.injected, self._buffer = self._buffer, b""
        self.transport.startTLS(self.tls_context)  # type: ignore[union-attr]
        self.tls = True

    def _login(self, command: _Command) -> None:
        user, password = command.arguments[0], command.arguments[1]
        if self.options.login_requires_tls and not self.tls:
            self._no(command, b"[PRIVACYREQUIRED] LOGIN needs TLS")
            return
        assert isinstance(user, bytes) and isinstance(password, bytes)
        self._authenticated(command, user.decode(), password.decode())

    def _authenticated(self, command: _Command, user: str, password: str) -> None:
        if self.store.users.get(user) != password:
            self._no(command, b"[AUTHENTICATIONFAILED] Authentication failed.")
            return
        self.state, self.user = "authenticated", user
        self._ok(command, b"[CAPABILITY " + self._capabilities() + b"] Logged in")

    def _authenticate(self, command: _Command) -> None:
        mechanism = command.arguments[0]
        assert isinstance(mechanism, bytes)
        mechanism = mechanism.upper()
        if mechanism not in self.options.auth_mechanisms:
            self._no(command, b"Unsupported authentication mechanism")
            return
        self._pending = _Command(command.tag, mechanism, command.arguments[1:])
        if mechanism == b"CRAM-MD5":
            self._challenges += 1
            self._challenge = b"<%d.1700000000@fake.example>" % self._challenges
            self._write(b"+ " + base64.b64encode(self._challenge))
        elif command.arguments[1:]:
            # RFC 4959 SASL-IR: the initial response came with the command.
            initial = command.arguments[1]
            assert isinstance(initial, bytes)
            self._sasl_line(initial + b"\r\n")
            return
        else:
            self._write(b"+ ")
        self._mode = "sasl"

    def _sasl_line(self, line: bytes) -> None:
        self._mode = "command"
        pending, self._pending = self._pending, None
        assert pending is not None
        if line == b"*\r\n":
            self._write(pending.tag + b" BAD Authentication cancelled")
            return
        try:
            decoded = base64.b64decode(line.strip(), validate=True)
        except ValueError:
            self._write(pending.tag + b" BAD Invalid base64")
            return
        if pending.name == b"XOAUTH2":
            # user=<u>^Aauth=Bearer <token>^A^A; the token is the user's
            # password in this fake. A refusal is a JSON challenge that the
            # client answers with an empty line before the tagged NO.
            parts = dict(field.split(b"=", 1) for field in decoded.split(b"\x01") if b"=" in field)
            user = parts.get(b"user", b"").decode()
            token = parts.get(b"auth", b"").removeprefix(b"Bearer ").decode()
            if self.store.users.get(user) == token:
                self._authenticated(pending, user, token)
            else:
                self._pending = _Command(pending.tag, b"XOAUTH2-FAILED", [])
                self._mode = "sasl"
                self._write(b"+ " + base64.b64encode(b'{"status":"401","schemes":"bearer"}'))
            return
        if pending.name == b"XOAUTH2-FAILED":
            self._no(pending, b"[AUTHENTICATIONFAILED] Invalid credentials")
            return
        if pending.name == b"PLAIN":
            fields = decoded.split(b"\0")
            if len(fields) != 3:
                self._no(pending, b"[AUTHENTICATIONFAILED] Malformed PLAIN response")
                return
            self._authenticated(pending, fields[1].decode(), fields[2].decode())
            return
        user, _, digest = decoded.decode("utf-8", "replace").rpartition(" ")
        password = self.store.users.get(user)
        good = password is not None and hmac.compare_digest(
            digest, hmac.new(password.encode(), self._challenge, hashlib.md5).hexdigest()
        )
        self._authenticated(pending, user, password if good and password else "\0wrong")

    # Authenticated.

    def _enable(self, command: _Command) -> None:
        wanted = {token.upper() for token in command.arguments if isinstance(token, bytes)}
        enabled = wanted & {b"CONDSTORE", b"QRESYNC", b"UTF8=ACCEPT"} & self._capability_set()
        self.condstore = self.condstore or bool(enabled & {b"CONDSTORE", b"QRESYNC"})
        self.qresync = self.qresync or b"QRESYNC" in enabled
        self._write(b" ".join([b"* ENABLED", *sorted(enabled)]))
        self._ok(command)

    def _namespace(self, command: _Command) -> None:
        self._write(b"* NAMESPACE " + self.options.namespace)
        self._ok(command)

    def _create(self, command: _Command) -> None:
        name = self._box_argument(command.arguments[0]).rstrip(b"/")
        if self.store.get(name) is not None:
            self._no(command, b"[ALREADYEXISTS] Mailbox exists")
            return
        self.store.create(name)
        self._ok(command)

    def _delete(self, command: _Command) -> None:
        name = self._box_argument(command.arguments[0])
        if name == b"INBOX" or self.store.get(name) is None:
            self._no(command, b"[NONEXISTENT] No such mailbox")
            return
        del self.store.mailboxes[name]
        self._ok(command)

    def _list(self, command: _Command) -> None:
        reference, pattern = command.arguments[0], command.arguments[1]
        assert isinstance(reference, bytes) and isinstance(pattern, bytes)
        verb = command.name
        if not pattern:
            self._write(b'* %s (\\Noselect) "/" ""' % verb)
            self._ok(command)
            return
        regex = re.escape(reference + pattern).replace(b"\\*", b".*").replace(b"%", b"[^/]*")
        for name in sorted(self.store.mailboxes):
            if re.fullmatch(regex, name, re.IGNORECASE if name == b"INBOX" else 0):
                children = any(other.startswith(name + b"/") for other in self.store.mailboxes)
                flag = b"\\HasChildren" if children else b"\\HasNoChildren"
                self._write(b'* %s (%s) "/" %s' % (verb, flag, quote(name)))
        self._ok(command)

    def _subscribe(self, command: _Command) -> None:
        self._ok(command)

    def _status(self, command: _Command) -> None:
        name = self._box_argument(command.arguments[0])
        box = self.store.get(name)
        items = command.arguments[1]
        if box is None:
            self._no(command, b"[NONEXISTENT] No such mailbox")
            return
        assert isinstance(items, list)
        values = {
            b"MESSAGES": len(box.messages),
            b"UIDNEXT": box.uid_next,
            b"UIDVALIDITY": box.uid_validity,
            b"UNSEEN": sum(b"\\Seen" not in message.flags for message in box.messages),
            b"RECENT": 0,
            b"HIGHESTMODSEQ": box.highest_modseq,
        }
        parts = [
            b"%s %d" % (item.upper(), values[item.upper()])
            for item in items
            if isinstance(item, bytes)
        ]
        self._write(b"* STATUS %s (%s)" % (quote(name), b" ".join(parts)))
        self._ok(command)

    def _select(self, command: _Command) -> None:
        box = self.store.get(self._box_argument(command.arguments[0]))
        self.state, self.selected = "authenticated", None
        if box is None:
            self._no(command, b"[NONEXISTENT] No such mailbox")
            return
        if command.arguments[1:] and b"CONDSTORE" in self._capability_set():
            self.condstore = True
        self.state, self.selected, self.read_only = "selected", box, command.name == b"EXAMINE"
        self._write(b"* FLAGS (%s)" % b" ".join(SYSTEM_FLAGS))
        self._write(b"* OK [PERMANENTFLAGS (%s \\*)] Flags" % b" ".join(SYSTEM_FLAGS))
        self._write(b"* %d EXISTS" % len(box.messages))
        self._write(b"* 0 RECENT")
        self._write(b"* OK [UIDVALIDITY %d] UIDs valid" % box.uid_validity)
        self._write(b"* OK [UIDNEXT %d] Predicted next UID" % box.uid_next)
        if b"CONDSTORE" in self._capability_set() and self.options.nomodseq:
            self._write(b"* OK [NOMODSEQ] No mod-sequences")
        elif b"CONDSTORE" in self._capability_set():
            self._write(b"* OK [HIGHESTMODSEQ %d] Highest" % box.highest_modseq)
        self._ok(command, b"[READ-ONLY] Examined" if self.read_only else b"[READ-WRITE] Selected")

    def _append(self, command: _Command) -> None:
        arguments = list(command.arguments)
        name = self._box_argument(arguments.pop(0))
        # [flags] [date] body, once per message (several with MULTIAPPEND);
        # a date is the token that parses as one and is not the last.
        messages: list[tuple[bytes, list[bytes], datetime | None]] = []
        flags: list[bytes] = []
        date = None
        for index, argument in enumerate(arguments):
            if isinstance(argument, list):
                flags = [flag for flag in argument if isinstance(flag, bytes)]
                continue
            if index < len(arguments) - 1:
                try:
                    date = parse_internal_date(argument)
                    continue
                except IMAPSyntaxError:
                    pass
            assert isinstance(argument, bytes)
            messages.append((argument, flags, date))
            flags, date = [], None
        if len(messages) > 1 and b"MULTIAPPEND" not in self._capability_set():
            raise IMAPSyntaxError("one message per APPEND without MULTIAPPEND")
        box = self.store.get(name)
        if box is None:
            self._no(command, b"[TRYCREATE] No such mailbox")
            return
        stored = [box.append(body, flags, date) for body, flags, date in messages]
        if box is self.selected:
            self._write(b"* %d EXISTS" % len(box.messages))
        self.store.changed(box)
        if b"UIDPLUS" in self._capability_set():
            uids = b",".join(b"%d" % message.uid for message in stored)
            self._ok(command, b"[APPENDUID %d %s] Append completed" % (box.uid_validity, uids))
        else:
            self._ok(command, b"Append completed")

    def _idle(self, command: _Command) -> None:
        self._pending = command
        self._mode = "idle"
        self.store.watch(self._idle_notice)
        self._write(b"+ idling")

    def _idle_notice(self, box: FakeMailbox) -> None:
        if box is self.selected:
            self._write(b"* %d EXISTS" % len(box.messages))

    def _idle_line(self, line: bytes) -> None:
        self._mode = "command"
        self.store.unwatch(self._idle_notice)
        pending, self._pending = self._pending, None
        assert pending is not None
        if line.upper() != b"DONE\r\n":
            self._write(pending.tag + b" BAD Expected DONE")
            return
        self._ok(pending, b"IDLE terminated")

    # Selected.

    def _messages(self, uid_set: Token) -> list[tuple[int, FakeMessage]]:
        assert self.selected is not None and isinstance(uid_set, bytes)
        largest = self.selected.messages[-1].uid if self.selected.messages else 0
        wanted = parse_uid_set(uid_set, largest)
        return [
            (number, message)
            for number, message in enumerate(self.selected.messages, 1)
            if message.uid in wanted
        ]

    def _uid_fetch(self, command: _Command) -> None:
        uid_set, items = command.arguments[0], command.arguments[1]
        changed_since = _modifier(command.arguments[2:], b"CHANGEDSINCE")
        vanished = any(
            isinstance(token, list) and b"VANISHED" in token for token in command.arguments[2:]
        )
        wanted = [item for item in (items if isinstance(items, list) else [items])]
        if vanished and (not self.qresync or changed_since is None):
            # RFC 7162 §3.2.6: VANISHED needs QRESYNC enabled and CHANGEDSINCE.
            self._bad(command, b"VANISHED without QRESYNC")
            return
        if self.options.nomodseq and (changed_since is not None or b"MODSEQ" in wanted):
            self._no(command, b"Mailbox has no mod-sequences")
            return
        if vanished:
            assert self.selected is not None and isinstance(uid_set, bytes)
            inside = parse_uid_set(uid_set, self.selected.uid_next)
            gone = [
                uid
                for uid, modseq in self.selected.vanished
                if modseq > (changed_since or 0) and uid in inside
            ]
            if gone:
                self._write(b"* VANISHED (EARLIER) " + b",".join(b"%d" % uid for uid in gone))
        for number, message in self._messages(uid_set):
            if changed_since is not None and message.modseq <= changed_since:
                continue
            parts = [b"UID %d" % message.uid]
            seen_before = b"\\Seen" in message.flags
            for item in wanted:
                assert isinstance(item, bytes)
                parts.extend(self._fetch_item(item, message))
            if changed_since is not None or self.condstore:
                parts.append(b"MODSEQ (%d)" % message.modseq)
            if not seen_before and b"\\Seen" in message.flags:
                parts.append(b"FLAGS (%s)" % b" ".join(sorted(message.flags)))
            line = b"* %d FETCH (%s)" % (number, b" ".join(dict.fromkeys(parts)))
            self._write(line)
            if b"BODY[" in line:
                self._misbehave_after_body(line)
        self._ok(command)

    def _misbehave_after_body(self, line: bytes) -> None:
        """
        The body misbehaviours of L{ServerOptions}, after a body response.
        """
        if self.options.repeat_bodies:
            self._write(line)
        if self.options.foreign_body is not None:
            uid, data = self.options.foreign_body
            literal = b"BODY[] {%d}\r\n%s" % (len(data), data)
            if self.options.foreign_uid_after:
                self._write(b"* 77 FETCH (%s UID %d)" % (literal, uid))
            else:
                self._write(b"* 77 FETCH (UID %d %s)" % (uid, literal))

    def _fetch_item(self, item: bytes, message: FakeMessage) -> list[bytes]:
        upper = item.upper()
        if upper in (b"UID", b"MODSEQ"):
            return []
        if upper == b"FLAGS":
            return [b"FLAGS (%s)" % b" ".join(sorted(message.flags))]
        if upper == b"RFC822.SIZE":
            return [b"RFC822.SIZE %d" % len(message.body)]
        if upper == b"INTERNALDATE":
            return [b"INTERNALDATE " + format_internal_date(message.internal_date)]
        section = re.fullmatch(rb"BODY(\.PEEK)?\[(.*)\]", item, re.IGNORECASE)
        if section is None:
            raise IMAPSyntaxError(f"unsupported FETCH item {item!r}")
        if section.group(1) is None and not self.read_only and self.selected is not None:
            message.flags.add(b"\\Seen")
            self.selected.touch(message)
        data = _section(message.body, section.group(2))
        return [b"BODY[%s] {%d}\r\n" % (section.group(2), len(data)) + data]

    def _uid_store(self, command: _Command) -> None:
        assert self.selected is not None
        arguments = list(command.arguments)
        uid_set = arguments.pop(0)
        unchanged_since = _modifier(arguments[:1], b"UNCHANGEDSINCE")
        if isinstance(arguments[0], list):
            arguments.pop(0)
        operation, flag_tokens = arguments[0], arguments[1]
        assert isinstance(operation, bytes)
        flag_list = flag_tokens if isinstance(flag_tokens, list) else [flag_tokens]
        flags = {flag for flag in flag_list if isinstance(flag, bytes)}
        operation = operation.upper()
        modified = []
        for number, message in self._messages(uid_set):
            if unchanged_since is not None and message.modseq > unchanged_since:
                modified.append(message.uid)
                continue
            if operation.startswith(b"+"):
                message.flags |= flags
            elif operation.startswith(b"-"):
                message.flags -= flags
            else:
                message.flags = set(flags)
            self.selected.touch(message)
            if not operation.endswith(b".SILENT"):
                modseq = b" MODSEQ (%d)" % message.modseq if self.condstore else b""
                current = b" ".join(sorted(message.flags))
                self._write(
                    b"* %d FETCH (UID %d FLAGS (%s)%s)" % (number, message.uid, current, modseq)
                )
        if modified:
            self._ok(command, b"[MODIFIED %s] Conditional STORE failed" % format_uid_set(modified))
        else:
            self._ok(command)

    def _uid_copy(self, command: _Command, move: bool = False) -> None:
        assert self.selected is not None
        target = self.store.get(self._box_argument(command.arguments[1]))
        if target is None:
            self._no(command, b"[TRYCREATE] No such mailbox")
            return
        selected = self._messages(command.arguments[0])
        sources, copies = [], []
        for _, message in selected:
            copy = target.append(message.body, message.flags, message.internal_date)
            sources.append(message.uid)
            copies.append(copy.uid)
        self.store.changed(target)
        code = b""
        if copies and b"UIDPLUS" in self._capability_set():
            code = b"[COPYUID %d %s %s] " % (
                target.uid_validity,
                format_uid_set(sources),
                format_uid_set(copies),
            )
        if move:
            # RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
            if code:
                self._write(b"* OK " + code + b"Moved")
            self._expunge_messages(set(sources))
            self._ok(command, b"Move completed")
        else:
            self._ok(command, code + b"Copy completed")

    def _uid_move(self, command: _Command) -> None:
        self._uid_copy(command, move=True)

    def _expunge_messages(self, uids: set[int] | None) -> None:
        """
        Remove \\Deleted messages (only those in C{uids}, unless C{None}),
        announcing each with its sequence number at that moment.
        """
        assert self.selected is not None
        number = 1
        for message in list(self.selected.messages):
            doomed = uids is None and b"\\Deleted" in message.flags
            if doomed or (uids is not None and message.uid in uids):
                self.selected.expunge(message)
                if self.qresync:
                    # RFC 7162 §3.2.10: VANISHED replaces EXPUNGE.
                    self._write(b"* VANISHED %d" % message.uid)
                else:
                    self._write(b"* %d EXPUNGE" % number)
            else:
                number += 1

    def _expunge(self, command: _Command) -> None:
        self._expunge_messages(None)
        self._ok(command)

    def _uid_expunge(self, command: _Command) -> None:
        deleted = {
            message.uid
            for _, message in self._messages(command.arguments[0])
            if b"\\Deleted" in message.flags
        }
        self._expunge_messages(deleted)
        self._ok(command)

    def _close(self, command: _Command) -> None:
        if not self.read_only:
            assert self.selected is not None
            self.selected.messages = [
                message for message in self.selected.messages if b"\\Deleted" not in message.flags
            ]
        self.state, self.selected = "authenticated", None
        self._ok(command)


def _modifier(tokens: Sequence[Token], name: bytes) -> int | None:
    """
    Find C{(NAME n)} among trailing command modifiers (RFC 7162 §3.1).
    """
    for token in tokens:
        if isinstance(token, list):
            for index, word in enumerate(token[:-1]):
                if word == name:
                    value = token[index + 1]
                    assert isinstance(value, bytes)
                    return int(value)
    return None


def _section(body: bytes, section: bytes) -> bytes:
    """
    The part of C{body} a BODY[section] names: all, HEADER, or HEADER.FIELDS.
    """
    header_end = body.find(b"\r\n\r\n")
    header = body if header_end < 0 else body[: header_end + 4]
    upper = section.upper()
    if upper == b"":
        return body
    if upper == b"HEADER":
        return header
    if upper == b"TEXT":
        return b"" if header_end < 0 else body[header_end + 4 :]
    fields = re.fullmatch(rb"HEADER\.FIELDS \((.*)\)", upper)
    if fields is None:
        raise IMAPSyntaxError(f"unsupported section {section!r}")
    names = set(fields.group(1).split())
    kept = [
        line
        for line in re.findall(rb"[^\r\n]+\r\n(?:[ \t][^\r\n]*\r\n)*", header)
        if line.split(b":", 1)[0].strip().upper() in names
    ]
    return b"".join(kept) + b"\r\n"


_Handler = Callable[[FakeIMAPServer, _Command], None]
# command name -> (handler, states it is valid in, capability it needs)
_TABLE: dict[bytes, tuple[_Handler, frozenset[str], bytes | None]] = {
    b"CAPABILITY": (FakeIMAPServer._capability, _ANY, None),
    b"NOOP": (FakeIMAPServer._noop, _ANY, None),
    b"LOGOUT": (FakeIMAPServer._logout, _ANY, None),
    b"STARTTLS": (FakeIMAPServer._starttls, _NOT_AUTHENTICATED, None),
    b"LOGIN": (FakeIMAPServer._login, _NOT_AUTHENTICATED, None),
    b"AUTHENTICATE": (FakeIMAPServer._authenticate, _NOT_AUTHENTICATED, None),
    b"ENABLE": (FakeIMAPServer._enable, _AUTHENTICATED, None),
    b"NAMESPACE": (FakeIMAPServer._namespace, _AUTHENTICATED, b"NAMESPACE"),
    b"CREATE": (FakeIMAPServer._create, _AUTHENTICATED, None),
    b"DELETE": (FakeIMAPServer._delete, _AUTHENTICATED, None),
    b"LIST": (FakeIMAPServer._list, _AUTHENTICATED, None),
    b"LSUB": (FakeIMAPServer._list, _AUTHENTICATED, None),
    b"SUBSCRIBE": (FakeIMAPServer._subscribe, _AUTHENTICATED, None),
    b"UNSUBSCRIBE": (FakeIMAPServer._subscribe, _AUTHENTICATED, None),
    b"STATUS": (FakeIMAPServer._status, _AUTHENTICATED, None),
    b"SELECT": (FakeIMAPServer._select, _AUTHENTICATED, None),
    b"EXAMINE": (FakeIMAPServer._select, _AUTHENTICATED, None),
    b"APPEND": (FakeIMAPServer._append, _AUTHENTICATED, None),
    b"IDLE": (FakeIMAPServer._idle, _AUTHENTICATED, b"IDLE"),
    b"CHECK": (FakeIMAPServer._noop, _SELECTED, None),
    b"CLOSE": (FakeIMAPServer._close, _SELECTED, None),
    b"EXPUNGE": (FakeIMAPServer._expunge, _SELECTED, None),
    b"UID FETCH": (FakeIMAPServer._uid_fetch, _SELECTED, None),
    b"UID STORE": (FakeIMAPServer._uid_store, _SELECTED, None),
    b"UID COPY": (FakeIMAPServer._uid_copy, _SELECTED, None),
    b"UID MOVE": (FakeIMAPServer._uid_move, _SELECTED, b"MOVE"),
    b"UID EXPUNGE": (FakeIMAPServer._uid_expunge, _SELECTED, b"UIDPLUS"),
}


class FakeIMAPServerFactory(Factory):
    """
    Builds L{FakeIMAPServer}s sharing one L{MailStore}, e.g. for endpoints.

    @ivar servers: every protocol built, for assertions.
    """

    def __init__(
        self,
        store: MailStore,
        options: ServerOptions = DEFAULT_OPTIONS,
        clock: IReactorTime | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.clock = clock
        self.servers: list[FakeIMAPServer] = []

    def buildProtocol(self, addr: object) -> FakeIMAPServer:
        """
        @return: a new server on the shared store.
        """
        server = FakeIMAPServer(self.store, self.options, self.clock)
        server.factory = self
        self.servers.append(server)
        return server
