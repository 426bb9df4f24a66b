# -*- test-case-name: tests.imap.test_commands -*-
"""
IMAP client commands as values, and their encoding to wire bytes (sans-IO).

A L{Command} says what to send; L{Command.encode} turns it into I{segments}
for one tag and the server's capabilities. The connection owns tags, queues
and continuation gating; this module only decides bytes.

Invariants:
  - Encoding is pure: the same command, tag, capabilities and enabled
    extensions always give the same segments.
  - C{encode} returns at least one segment. Every segment but the last ends
    with a synchronizing literal header C{{n}\\r\\n}: the connection sends
    the first segment at once and each later one only after a C{+}
    continuation request. Non-synchronizing literals (C{{n+}}) stay inline
    in their segment (mbsync 1.4: LITERAL+ only under 100 KiB; RFC 7888
    LITERAL- up to 4096 octets). The last segment ends with CRLF.
  - A NUL byte is never sent: asking for one raises L{LocalProtocolError}.
  - Strings are sent as atoms when every byte is an ASTRING-CHAR, quoted
    when short and free of CR, LF and 8-bit bytes (8-bit UTF-8 is allowed
    in quoted strings once UTF8=ACCEPT is enabled), and as literals
    otherwise (RFC 3501 §4.3, §9).
  - Messages are addressed by UID only (no sequence-number commands exist);
    one command's UID set is at most L{MAX_UID_SET_CHARS} long (the UID
    values and their splitting live in L{msync.imap.uids}).
  - APPEND sends the message bytes unchanged: callers supply CRLF lines.
  - A command needing a capability the server lacks refuses to encode.
  - Neither C{repr()} nor L{Command.redacted} ever contains a password or
    SASL payload.
"""

from __future__ import annotations

import base64
import enum
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import field
from datetime import datetime, timedelta
from typing import Final, TypeAlias

from msync.errors import LocalProtocolError, MailboxNameError
from msync.imap.uids import MAX_UID, MAX_UID_SET_CHARS, UIDs
from msync.imap.utf7 import encode_mailbox_name
from msync.imap.values import _value
from msync.model import Secret

#: The line that ends IDLE (RFC 2177).
IDLE_DONE = b"DONE\r\n"

#: Extensions whose C{ENABLE} is no barrier (RFC 7162 §3.2.3: they change
#: only what the server says about a selected mailbox).
PIPELINED_EXTENSIONS: Final = frozenset({b"QRESYNC", b"CONDSTORE"})

#: The line that cancels an AUTHENTICATE exchange (RFC 3501 §6.2.2).
SASL_CANCEL = b"*\r\n"

# mbsync 1.4 uses LITERAL+ only for literals under 100 KiB, so that a big
# APPEND the server will refuse (quota, size limit) is not sent in vain.
_LITERAL_PLUS_LIMIT = 100 * 1024
# RFC 7888 §4: LITERAL- allows non-synchronizing literals up to 4096 octets.
_LITERAL_MINUS_LIMIT = 4096
# Longer strings go as literals, keeping command lines short.
_QUOTED_MAX = 1000
_MAX_MODSEQ = 2**63 - 1

# RFC 3501 §9: atom-specials are ( ) { SP CTL % * " \ and ].
_ATOM_CHARS = bytes(c for c in range(0x21, 0x7F) if c not in b'(){%*"\\]')
_ASTRING_CHARS = _ATOM_CHARS + b"]"


@functools.lru_cache(maxsize=16)
def _upper(names: frozenset[bytes]) -> frozenset[bytes]:
    """
    Capability names in upper case (a connection's few sets are kept, as
    every command is checked against them).
    """
    return frozenset(each.upper() for each in names)


_LIST_CHARS = _ASTRING_CHARS + b"%*"
_PRINTABLE = bytes(range(0x20, 0x7F))
# RFC 3501 §5.1.3: printable ASCII other than "&" represents itself.
_MUTF7_IDENTITY = re.compile(r"[\x20-\x25\x27-\x7e]*")
_MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class _Writer:
    """
    Accumulates the segments of one command, or its log rendering.

    A segment is kept as a list of parts joined once at its end, so that a
    literal's data (a whole message, for APPEND) is copied once, not at
    every step.
    """

    def __init__(self, capabilities: frozenset[bytes], utf8: bool, redacting: bool) -> None:
        self.capabilities = capabilities
        self.utf8 = utf8
        self.redacting = redacting
        self._segments: list[bytes] = []
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def literal(self, data: bytes) -> None:
        if b"\0" in data and not self.redacting:
            raise LocalProtocolError("IMAP strings and literals cannot contain NUL")
        size = len(data)
        if self.redacting:
            plus = b"+" if _non_synchronizing(size, self.capabilities) else b""
            self._parts.append(b"{%d%s}" % (size, plus))
        elif _non_synchronizing(size, self.capabilities):
            self._parts += (b"{%d+}\r\n" % (size,), data)
        else:
            self._parts.append(b"{%d}\r\n" % (size,))
            self._segments.append(b"".join(self._parts))
            self._parts = [data]

    def finish(self) -> tuple[bytes, ...]:
        if not self.redacting:
            self._parts.append(b"\r\n")
        self._segments.append(b"".join(self._parts))
        return tuple(self._segments)


def _non_synchronizing(size: int, capabilities: frozenset[bytes]) -> bool:
    if b"LITERAL+" in capabilities:
        return size < _LITERAL_PLUS_LIMIT
    return b"LITERAL-" in capabilities and size <= _LITERAL_MINUS_LIMIT


def _write_string(out: _Writer, data: bytes, atom_chars: bytes | None) -> None:
    if b"\0" in data:
        out.literal(data)  # refuses it, or shows its size when redacting
    elif atom_chars is not None and data and not data.translate(None, atom_chars):
        out.write(data)
    elif _quotable(data, out.utf8):
        out.write(b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"')
    else:
        out.literal(data)


def _quotable(data: bytes, utf8: bool) -> bool:
    if len(data) > _QUOTED_MAX or b"\r" in data or b"\n" in data:
        return False
    if data.isascii() or not utf8:
        return data.isascii()
    # RFC 6855 §3: with UTF8=ACCEPT enabled, quoted strings carry UTF-8.
    try:
        return bool(data.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def _encode_name(name: str, utf8: bool) -> bytes:
    if utf8:
        try:
            return name.encode("utf-8")
        except UnicodeEncodeError:
            raise MailboxNameError(name, "holds lone surrogates") from None
    if _MUTF7_IDENTITY.fullmatch(name):
        return name.encode("ascii")
    return encode_mailbox_name(name)


@_value
class _Raw:
    """Protocol text sent verbatim (keywords, item lists, numbers)."""

    data: bytes

    def write(self, out: _Writer) -> None:
        out.write(self.data)


@_value
class _String:
    """
    A string; C{atom_chars} are the bytes an unquoted form may use, or
    C{None} where the grammar says C{string} (never an atom).
    """

    data: bytes
    atom_chars: bytes | None = field(default=_ASTRING_CHARS, repr=False)

    def write(self, out: _Writer) -> None:
        _write_string(out, self.data, self.atom_chars)


@_value
class _Mailbox:
    """A mailbox name (C{pattern=False}) or LIST pattern, in Unicode."""

    name: str
    pattern: bool = False

    def write(self, out: _Writer) -> None:
        # RFC 3501 §5.1: INBOX is case-insensitive. isascii() keeps
        # "ınbox" (dotless i), which upper-cases to INBOX, a different name.
        if not self.pattern and self.name.isascii() and self.name.upper() == "INBOX":
            out.write(b"INBOX")
            return
        chars = _LIST_CHARS if self.pattern else _ASTRING_CHARS
        _write_string(out, _encode_name(self.name, out.utf8), chars)


@_value
class _Literal:
    """Data always sent as a literal (an APPEND message)."""

    data: bytes = field(repr=False)

    def write(self, out: _Writer) -> None:
        out.literal(self.data)


@_value
class _Password:
    """A LOGIN password; rendered as C{<redacted>} in logs."""

    secret: Secret

    def write(self, out: _Writer) -> None:
        if out.redacting:
            out.write(b"<redacted>")
        else:
            _write_string(out, self.secret.value.encode("utf-8"), _ASTRING_CHARS)


@_value
class _InitialResponse:
    """A SASL initial response (RFC 4959), raw before base64."""

    data: bytes = field(repr=False)

    def write(self, out: _Writer) -> None:
        if out.redacting:
            out.write(b"<redacted>")
        elif b"SASL-IR" not in out.capabilities:
            raise LocalProtocolError("AUTHENTICATE initial response needs SASL-IR")
        else:
            # RFC 4959 §3: an empty initial response is sent as "=".
            out.write(base64.b64encode(self.data) or b"=")


@_value
class _List:
    """A parenthesized list of arguments."""

    items: tuple[Argument, ...]

    def write(self, out: _Writer) -> None:
        out.write(b"(")
        for index, item in enumerate(self.items):
            if index:
                out.write(b" ")
            item.write(out)
        out.write(b")")


#: One argument of a L{Command}.
Argument: TypeAlias = _Raw | _String | _Mailbox | _Literal | _Password | _InitialResponse | _List


def _uid_arg(uids: UIDs) -> _Raw:
    data = uids.encode()
    if len(data) > MAX_UID_SET_CHARS:
        raise LocalProtocolError(f"UID set of {len(data)} characters: use split_by_uid_set")
    return _Raw(data)


def _text(data: bytes, what: str) -> bytes:
    """Check protocol text built by the caller: printable ASCII, not empty."""
    if not data or data.translate(None, _PRINTABLE):
        raise LocalProtocolError(f"invalid {what}: {data!r}")
    return data


def _atom(data: bytes, what: str) -> bytes:
    if not data or data.translate(None, _ATOM_CHARS):
        raise LocalProtocolError(f"invalid {what}: {data!r}")
    return data


def _flag(data: bytes) -> _Raw:
    # RFC 3501 §9: flag = "\" atom (system / extension) or atom (keyword).
    _atom(data[1:] if data.startswith(b"\\") else data, "flag")
    return _Raw(data)


def _number(value: int, what: str, maximum: int = _MAX_MODSEQ) -> bytes:
    if not 0 <= value <= maximum:
        raise LocalProtocolError(f"{what} {value} is out of range")
    return b"%d" % (value,)


def _internal_date(when: datetime) -> _Raw:
    # RFC 3501 §9 date-time: "dd-Mon-yyyy HH:MM:SS +zzzz", English months.
    offset = when.utcoffset()
    if offset is None:
        raise LocalProtocolError("APPEND internal date needs a timezone-aware datetime")
    if offset % timedelta(minutes=1):
        raise LocalProtocolError("APPEND internal date offset must be whole minutes")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    day = f"{when.day:02d}-{_MONTHS[when.month - 1].decode()}-{when.year:04d}"
    text = f'"{day} {when:%H:%M:%S} {sign}{hours:02d}{minutes:02d}"'
    return _Raw(text.encode("ascii"))


class StoreMode(enum.Enum):
    """
    How UID STORE changes flags; always C{.SILENT} (mbsync reads flags back
    by FETCH when it needs them).
    """

    ADD = b"+FLAGS.SILENT"
    REMOVE = b"-FLAGS.SILENT"
    REPLACE = b"FLAGS.SILENT"


@_value
class QResync:
    """
    The QRESYNC SELECT parameter (RFC 7162 §3.2.5).

    @ivar uid_validity: the UIDVALIDITY the cached state belongs to.
    @ivar mod_seq: the last known HIGHESTMODSEQ.
    @ivar known_uids: the UIDs the client knows, or C{None} for all.
    """

    uid_validity: int
    mod_seq: int
    known_uids: UIDs | None = None

    def argument(self) -> _Raw:
        """@return: the C{(QRESYNC (...))} parameter list."""
        text = _number(self.uid_validity, "UIDVALIDITY", MAX_UID) + b" "
        text += _number(self.mod_seq, "MODSEQ")
        if self.known_uids is not None:
            text += b" " + self.known_uids.encode()
        return _Raw(b"(QRESYNC (" + text + b"))")


@_value
class Command:
    """
    One IMAP command, without its tag.

    @ivar name: the command name, e.g. C{b"UID FETCH"}.
    @ivar arguments: what follows the name, separated by spaces.
    @ivar barrier: nothing may be sent behind this command until its tagged
        response arrives (it changes state, selection, transport or
        capabilities, or takes over the connection).
    @ivar changes_selection: it selects, examines or closes a mailbox, so
        untagged data after it belongs to another mailbox.
    @ivar expects_continuation: the server answers with C{+} requests the
        caller must answer (AUTHENTICATE's challenges, IDLE's C{+ idling}),
        besides any for synchronizing literals.
    @ivar requires: server capabilities the command needs.
    @ivar requires_enabled: extensions that must have been ENABLEd.
    @ivar refused_by: capabilities in whose presence it must not be sent.
    @ivar uids: the UIDs a C{UID} command addresses, as given (the
        connection routes untagged FETCH data by them); else C{None}.
    @ivar fetch_items: a UID FETCH's items as given (the connection drops
        bodies it did not ask for); empty when unknown.
    """

    name: bytes
    arguments: tuple[Argument, ...] = ()
    barrier: bool = False
    changes_selection: bool = False
    expects_continuation: bool = False
    requires: tuple[bytes, ...] = ()
    requires_enabled: tuple[bytes, ...] = ()
    refused_by: tuple[bytes, ...] = ()
    # Equal commands are equal on the wire: 5:7 as a set or as a range.
    uids: UIDs | None = field(default=None, compare=False)
    fetch_items: tuple[bytes, ...] = field(default=(), compare=False)

    def encode(
        self,
        tag: bytes,
        capabilities: frozenset[bytes],
        enabled: frozenset[bytes] = frozenset(),
    ) -> tuple[bytes, ...]:
        """
        Encode for the wire; see the module docstring for segments.

        @param tag: the command tag, e.g. C{b"A1"}.
        @param capabilities: the server's capabilities (any case).
        @param enabled: extensions the server confirmed with ENABLED.
        @return: the segments, at least one.
        @raise LocalProtocolError: if the command cannot be sent to this
            server (missing capability, NUL byte, bad tag).
        """
        if not tag or tag.translate(None, _ASTRING_CHARS) or b"+" in tag:
            raise LocalProtocolError(f"invalid tag {tag!r}")
        capabilities = _upper(capabilities)
        enabled = _upper(enabled)
        problems = [b"needs " + c for c in self.requires if c not in capabilities]
        problems += [b"needs " + c + b" enabled" for c in self.requires_enabled if c not in enabled]
        problems += [b"is refused by " + c for c in self.refused_by if c in capabilities]
        if problems:
            raise LocalProtocolError((self.name + b" " + problems[0]).decode("ascii"))
        # RFC 6855 §3: UTF8=ACCEPT, once enabled, allows UTF-8 strings.
        out = _Writer(capabilities, b"UTF8=ACCEPT" in enabled, redacting=False)
        return self._write(out, tag)

    def redacted(
        self,
        tag: bytes = b"",
        capabilities: Iterable[bytes] = (),
        enabled: Iterable[bytes] = (),
    ) -> str:
        """
        A log-safe rendering of what L{encode} sends: passwords and SASL
        payloads are C{<redacted>} and literals are shown as C{{size}} (or
        C{{size+}}) only; mailbox names as sent (modified UTF-7 unless
        UTF8=ACCEPT is enabled).

        @param tag: a tag to show before the name, if any.
        @param capabilities: the server's capabilities, as for L{encode}.
        @param enabled: the extensions enabled, as for L{encode}.
        """
        upper = _upper(frozenset(capabilities))
        utf8 = b"UTF8=ACCEPT" in _upper(frozenset(enabled))
        out = _Writer(upper, utf8, redacting=True)
        return b"".join(self._write(out, tag)).decode("utf-8", "backslashreplace")

    def _write(self, out: _Writer, tag: bytes) -> tuple[bytes, ...]:
        out.write(tag + b" " + self.name if tag else self.name)
        for argument in self.arguments:
            out.write(b" ")
            argument.write(out)
        return out.finish()

    @classmethod
    def capability(cls) -> Command:
        """C{CAPABILITY}."""
        return cls(b"CAPABILITY")

    @classmethod
    def noop(cls) -> Command:
        """C{NOOP}."""
        return cls(b"NOOP")

    @classmethod
    def logout(cls) -> Command:
        """C{LOGOUT}; the connection ends after it."""
        return cls(b"LOGOUT", barrier=True)

    @classmethod
    def starttls(cls) -> Command:
        """C{STARTTLS}; the TLS handshake must follow before anything else."""
        return cls(b"STARTTLS", barrier=True, requires=(b"STARTTLS",))

    @classmethod
    def login(cls, user: str, password: Secret) -> Command:
        """
        C{LOGIN user password}; never sent when the server says
        LOGINDISABLED (RFC 3501 §6.2.3).
        """
        arguments = (_String(user.encode("utf-8")), _Password(password))
        return cls(b"LOGIN", arguments, barrier=True, refused_by=(b"LOGINDISABLED",))

    @classmethod
    def authenticate(cls, mechanism: bytes, initial_response: bytes | None = None) -> Command:
        """
        C{AUTHENTICATE mechanism [initial-response]}.

        @param initial_response: the raw (not yet base64) initial response,
            only for servers with SASL-IR (RFC 4959), else C{None}: the
            mechanism then answers the server's first, empty challenge.
            Continuation answers are built with L{sasl_response_line}.
        """
        arguments: tuple[Argument, ...] = (_Raw(_atom(mechanism.upper(), "SASL mechanism")),)
        if initial_response is not None:
            arguments += (_InitialResponse(initial_response),)
        return cls(b"AUTHENTICATE", arguments, barrier=True, expects_continuation=True)

    @classmethod
    def enable(cls, *extensions: bytes) -> Command:
        """
        C{ENABLE ext ...} (RFC 5161). A barrier (UTF8=ACCEPT changes how
        later commands are encoded), except for extensions in
        L{PIPELINED_EXTENSIONS}, which change only the answers about a
        selected mailbox, and ENABLE is valid only while none is: commands
        may go out behind it.
        """
        if not extensions:
            raise LocalProtocolError("ENABLE needs at least one extension")
        arguments = tuple(_Raw(_atom(each, "extension")) for each in extensions)
        barrier = not {each.upper() for each in extensions} <= PIPELINED_EXTENSIONS
        return cls(b"ENABLE", arguments, barrier=barrier, requires=(b"ENABLE",))

    def extension_names(self) -> tuple[bytes, ...]:
        """
        @return: an C{ENABLE}'s extensions as given; nothing for another command.
        """
        if self.name != b"ENABLE":
            return ()
        return tuple(each.data for each in self.arguments if isinstance(each, _Raw))

    @classmethod
    def id(cls, fields: Sequence[tuple[str, str]] | None) -> Command:
        """C{ID (key value ...)} or C{ID NIL} (RFC 2971)."""
        if fields is None:
            return cls(b"ID", (_Raw(b"NIL"),), requires=(b"ID",))
        items = tuple(_String(text.encode("utf-8"), None) for pair in fields for text in pair)
        return cls(b"ID", (_List(items),), requires=(b"ID",))

    @classmethod
    def namespace(cls) -> Command:
        """C{NAMESPACE} (RFC 2342)."""
        return cls(b"NAMESPACE", requires=(b"NAMESPACE",))

    @classmethod
    def compress(cls) -> Command:
        """C{COMPRESS DEFLATE} (RFC 4978); compression starts right after it."""
        return cls(b"COMPRESS", (_Raw(b"DEFLATE"),), barrier=True, requires=(b"COMPRESS=DEFLATE",))

    @classmethod
    def idle(cls) -> Command:
        """C{IDLE} (RFC 2177); ended by sending L{IDLE_DONE}."""
        return cls(b"IDLE", barrier=True, expects_continuation=True, requires=(b"IDLE",))

    @classmethod
    def list(cls, reference: str, pattern: str, *, return_status: Sequence[bytes] = ()) -> Command:
        """
        C{LIST reference pattern [RETURN (STATUS (items))]} (RFC 5819 for
        the STATUS return option).
        """
        command = cls.lsub(reference, pattern)
        if not return_status:
            return cls(b"LIST", command.arguments)
        items = b" ".join(_atom(each, "STATUS item") for each in return_status)
        extra = _Raw(b"RETURN (STATUS (" + items + b"))")
        return cls(b"LIST", (*command.arguments, extra), requires=(b"LIST-STATUS",))

    @classmethod
    def lsub(cls, reference: str, pattern: str) -> Command:
        """C{LSUB reference pattern}."""
        return cls(b"LSUB", (_Mailbox(reference, pattern=True), _Mailbox(pattern, pattern=True)))

    @classmethod
    def create(cls, mailbox: str) -> Command:
        """C{CREATE mailbox}."""
        return cls(b"CREATE", (_Mailbox(mailbox),))

    @classmethod
    def delete(cls, mailbox: str) -> Command:
        """C{DELETE mailbox}."""
        return cls(b"DELETE", (_Mailbox(mailbox),))

    @classmethod
    def status(cls, mailbox: str, items: Sequence[bytes]) -> Command:
        """C{STATUS mailbox (items)}, e.g. C{(MESSAGES UIDNEXT)}."""
        parts = tuple(_Raw(_atom(each, "STATUS item")) for each in items)
        if not parts:
            raise LocalProtocolError("STATUS needs at least one item")
        return cls(b"STATUS", (_Mailbox(mailbox), _List(parts)))

    @classmethod
    def select(
        cls,
        mailbox: str,
        *,
        read_only: bool = False,
        condstore: bool = False,
        qresync: QResync | None = None,
    ) -> Command:
        """
        C{SELECT} (or C{EXAMINE} when C{read_only}) C{mailbox}, optionally
        with C{(CONDSTORE)} or C{(QRESYNC (...))} (RFC 7162); QRESYNC must
        have been ENABLEd first.
        """
        if condstore and qresync is not None:
            raise LocalProtocolError("QRESYNC implies CONDSTORE; give only one")
        arguments: tuple[Argument, ...] = (_Mailbox(mailbox),)
        if condstore:
            arguments += (_Raw(b"(CONDSTORE)"),)
        elif qresync is not None:
            arguments += (qresync.argument(),)
        return cls(
            b"EXAMINE" if read_only else b"SELECT",
            arguments,
            barrier=True,
            changes_selection=True,
            requires=(b"CONDSTORE",) if condstore else (),
            requires_enabled=(b"QRESYNC",) if qresync is not None else (),
        )

    @classmethod
    def close(cls) -> Command:
        """C{CLOSE}: expunge \\Deleted messages silently and deselect."""
        return cls(b"CLOSE", barrier=True, changes_selection=True)

    @classmethod
    def unselect(cls) -> Command:
        """C{UNSELECT} (RFC 3691): deselect without expunging."""
        return cls(b"UNSELECT", barrier=True, changes_selection=True, requires=(b"UNSELECT",))

    @classmethod
    def check(cls) -> Command:
        """C{CHECK}."""
        return cls(b"CHECK")

    @classmethod
    def expunge(cls) -> Command:
        """C{EXPUNGE}: every \\Deleted message of the selected mailbox."""
        return cls(b"EXPUNGE")

    @classmethod
    def uid_fetch(
        cls,
        uids: UIDs,
        items: Sequence[bytes],
        *,
        changed_since: int | None = None,
        vanished: bool = False,
    ) -> Command:
        """
        C{UID FETCH uids (items) [(CHANGEDSINCE n [VANISHED])]} (RFC 7162
        §3.1.4, §3.2.6).

        @param items: fetch items as protocol text, e.g. C{b"FLAGS"},
            C{b"BODY.PEEK[HEADER.FIELDS (X-TUID)]"}.
        """
        parts = b" ".join(_text(each, "FETCH item") for each in items)
        if not parts:
            raise LocalProtocolError("UID FETCH needs at least one item")
        arguments: tuple[Argument, ...] = (_uid_arg(uids), _Raw(b"(" + parts + b")"))
        if changed_since is None:
            if vanished:
                raise LocalProtocolError("VANISHED needs CHANGEDSINCE")
            return cls(b"UID FETCH", arguments, uids=uids, fetch_items=tuple(items))
        modifier = b"(CHANGEDSINCE " + _number(changed_since, "CHANGEDSINCE")
        modifier += b" VANISHED)" if vanished else b")"
        return cls(
            b"UID FETCH",
            arguments + (_Raw(modifier),),
            requires=(b"CONDSTORE",),
            requires_enabled=(b"QRESYNC",) if vanished else (),
            uids=uids,
            fetch_items=tuple(items),
        )

    @classmethod
    def uid_store(
        cls,
        uids: UIDs,
        mode: StoreMode,
        flags: Sequence[bytes],
        *,
        unchanged_since: int | None = None,
    ) -> Command:
        """C{UID STORE uids [(UNCHANGEDSINCE n)] ±FLAGS.SILENT (flags)}."""
        arguments: tuple[Argument, ...] = (_uid_arg(uids),)
        requires: tuple[bytes, ...] = ()
        if unchanged_since is not None:
            number = _number(unchanged_since, "UNCHANGEDSINCE")
            arguments += (_Raw(b"(UNCHANGEDSINCE " + number + b")"),)
            requires = (b"CONDSTORE",)
        arguments += (_Raw(mode.value), _List(tuple(_flag(each) for each in flags)))
        return cls(b"UID STORE", arguments, requires=requires, uids=uids)

    @classmethod
    def uid_copy(cls, uids: UIDs, mailbox: str) -> Command:
        """C{UID COPY uids mailbox}."""
        return cls(b"UID COPY", (_uid_arg(uids), _Mailbox(mailbox)), uids=uids)

    @classmethod
    def uid_move(cls, uids: UIDs, mailbox: str) -> Command:
        """C{UID MOVE uids mailbox} (RFC 6851)."""
        return cls(b"UID MOVE", (_uid_arg(uids), _Mailbox(mailbox)), requires=(b"MOVE",), uids=uids)

    @classmethod
    def uid_expunge(cls, uids: UIDs) -> Command:
        """C{UID EXPUNGE uids} (RFC 4315)."""
        return cls(b"UID EXPUNGE", (_uid_arg(uids),), requires=(b"UIDPLUS",), uids=uids)

    @classmethod
    def uid_search(
        cls, *, uids: UIDs | None = None, header: tuple[bytes, bytes] | None = None
    ) -> Command:
        """
        C{UID SEARCH [CHARSET UTF-8] [UID uids] [HEADER field value]}, or
        C{UID SEARCH ALL} without criteria. CHARSET UTF-8 is added when the
        header value has 8-bit bytes (RFC 3501 §6.4.4).
        """
        arguments: tuple[Argument, ...] = ()
        if uids is not None:
            arguments += (_Raw(b"UID"), _uid_arg(uids))
        if header is not None:
            name, value = header
            arguments += (_Raw(b"HEADER"), _String(name), _String(value))
            if not value.isascii():
                arguments = (_Raw(b"CHARSET UTF-8"),) + arguments
        return cls(b"UID SEARCH", arguments or (_Raw(b"ALL"),))

    @classmethod
    def append(
        cls,
        mailbox: str,
        message: bytes,
        *,
        flags: Sequence[bytes] = (),
        internal_date: datetime | None = None,
    ) -> Command:
        """
        C{APPEND mailbox [(flags)] ["date-time"] {n}} and the message.

        @param message: the message exactly as stored; it must already use
            CRLF line ends (it is not converted) and contain no NUL.
        @param internal_date: a timezone-aware datetime.
        """
        arguments: tuple[Argument, ...] = (_Mailbox(mailbox),)
        if flags:
            arguments += (_List(tuple(_flag(each) for each in flags)),)
        if internal_date is not None:
            arguments += (_internal_date(internal_date),)
        return cls(b"APPEND", arguments + (_Literal(message),))

    @classmethod
    def multiappend(cls, mailbox: str, messages: Sequence[AppendMessage]) -> Command:
        """
        C{APPEND mailbox [(flags)] ["date-time"] {n} [(flags)] ...}: several
        messages in one command (MULTIAPPEND, RFC 3502). The server stores
        all of them or none, in the order given.

        @param messages: at least one; see L{append} for each.
        """
        if not messages:
            raise LocalProtocolError("MULTIAPPEND needs at least one message")
        arguments: tuple[Argument, ...] = (_Mailbox(mailbox),)
        for each in messages:
            if each.flags:
                arguments += (_List(tuple(_flag(flag) for flag in each.flags)),)
            if each.internal_date is not None:
                arguments += (_internal_date(each.internal_date),)
            arguments += (_Literal(each.data),)
        requires = (b"MULTIAPPEND",) if len(messages) > 1 else ()
        return cls(b"APPEND", arguments, requires=requires)


@_value
class AppendMessage:
    """
    One message of a MULTIAPPEND (L{Command.multiappend}).

    @ivar data: the message exactly as stored (CRLF line ends, no NUL).
    @ivar flags: its flag names.
    @ivar internal_date: a timezone-aware INTERNALDATE, or C{None}.
    """

    data: bytes = field(repr=False)
    flags: Sequence[bytes] = ()
    internal_date: datetime | None = None


def sasl_response_line(response: bytes) -> bytes:
    """
    The line answering an AUTHENTICATE challenge (RFC 3501 §6.2.2).

    @param response: the mechanism's raw response.
    @return: its base64 form and CRLF (an empty response is an empty line).
    """
    return base64.b64encode(response) + b"\r\n"
