# -*- test-case-name: tests.imap.test_grammar -*-
"""
Low-level IMAP4rev1 tokens (RFC 3501 §9) and response codes, read from the
text of one complete response.

A L{Reader} walks the text of a response that the framing layer in
L{msync.imap.responses} has already assembled: the response's lines joined
by CRLF, where each line but the last ends with a literal marker C{{n}} or
C{~{n}}. The literal bytes themselves are not in the text; they are kept in a
side list and handed out by position, so a large literal is never scanned by a
regular expression or copied again.

Invariants:
  - Pure: stdlib only, no I/O, no clocks.
  - Every failure raises L{RemoteProtocolError} saying what was expected,
    at which offset, quoting (truncated) the offending bytes. No other
    exception escapes a L{Reader} method for any input.
  - IMAP data stays C{bytes}; numbers are C{int}; C{NIL} is C{None}.
  - Numbers are bounded (RFC 3501 C{number} is 32-bit, RFC 7162
    C{mod-sequence-value} 63-bit); list nesting is bounded, so hostile input
    cannot exhaust the stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final, NoReturn, TypeAlias

from msync.errors import RemoteProtocolError
from msync.imap.values import (
    STAR,
    AppendUIDCode,
    CapabilityCode,
    CopyUIDCode,
    HighestModSeqCode,
    ModifiedCode,
    OtherCode,
    PermanentFlagsCode,
    PlainCode,
    ResponseCode,
    SeqNumber,
    SequenceSet,
    UIDNextCode,
    UIDValidityCode,
    UnseenCode,
    Value,
)

MAX_NUMBER: Final = 0xFFFFFFFF
MAX_NUMBER64: Final = 0x7FFFFFFFFFFFFFFF
MAX_NESTING: Final = 64

# RFC 3501 §9: ATOM-CHAR is any CHAR except atom-specials ("(" ")" "{" SP
# CTL "%" "*" DQUOTE "\" "]"); 8-bit bytes are not CHARs.
_ATOM = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]+')
# ASTRING-CHAR adds resp-specials ("]").
_ASTRING_ATOM = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\]+')
# A tag is any ASTRING-CHAR except "+".
_TAG = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\+]+')
# flag-extension / flag-keyword, and "\*" (flag-perm).
_FLAG = re.compile(rb'\\\*|\\?[^\x00-\x20\x7f-\xff(){%*"\\\]]+')
_NUMBER = re.compile(rb"[0-9]{1,20}")
# Quoted strings: RFC 3501 forbids 8-bit and CR/LF; servers do send 8-bit
# (and RFC 6855 allows UTF-8), so only NUL, CR and LF are refused.
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_UNESCAPE = re.compile(rb'\\(["\\])')
_LITERAL = re.compile(rb"(~?)\{([0-9]{1,20})\}\r\n")
_TEXT = re.compile(rb"[^\r\n\x00]*")
_CODE_TEXT = re.compile(rb"[^\]\r\n\x00]*")
_SEQUENCE_SET = re.compile(
    rb"(?:[0-9]{1,10}|\*)(?::(?:[0-9]{1,10}|\*))?(?:,(?:[0-9]{1,10}|\*)(?::(?:[0-9]{1,10}|\*))?)*"
)
_SECTION_SPEC = re.compile(rb"[A-Za-z0-9.]*")
_DATE_TIME = re.compile(
    rb"( ?[0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)
_MONTHS: Final = {
    name: index
    for index, name in enumerate(
        (b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN")
        + (b"JUL", b"AUG", b"SEP", b"OCT", b"NOV", b"DEC"),
        start=1,
    )
}

_SNIPPET = 60


def quote_bytes(data: bytes, limit: int = _SNIPPET) -> str:
    """
    Render bytes for an error message, truncated to C{limit} bytes.

    @param data: the offending bytes.
    @param limit: how many bytes to show at most.
    @return: a C{repr} of the (possibly truncated) bytes.
    """
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"


# The time zones of date-times seen, by their text ("+0100"): a pull
# parses one INTERNALDATE per message, nearly all in a few zones.
_ZONES: dict[bytes, timezone] = {}
_ZONES_KEPT: Final = 64


def date_time_value(raw: bytes) -> datetime | None:
    """
    The value of a C{date-time}'s text (RFC 3501 §9, INTERNALDATE, without
    its quotes).

    @return: the aware datetime, or C{None} if C{raw} is no valid
        date-time (malformed, or an impossible date or offset).
    """
    match = _DATE_TIME.fullmatch(raw)
    if match is None:
        return None
    day, name, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    month = _MONTHS.get(name.upper())
    if month is None:
        return None
    key = sign + zone_h + zone_m
    try:
        zone = _ZONES.get(key)
        if zone is None:
            # timezone refuses impossible offsets (+9900), datetime
            # impossible dates (31-Feb): a malformed response, not our bug.
            offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
            zone = timezone(-offset if sign == b"-" else offset)
            if len(_ZONES) < _ZONES_KEPT:
                _ZONES[key] = zone
        return datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=zone
        )
    except ValueError:
        return None


class Reader:
    """
    A cursor over the text of one response.

    @ivar data: the response text (lines joined by CRLF, literals removed).
    @ivar pos: the offset of the next unread byte.
    @ivar last_literal_streamed: whether the last literal read was delivered
        elsewhere as L{LiteralChunk} events (its value here is C{b""}).
    """

    __slots__ = ("data", "pos", "_literals", "_next_literal", "last_literal_streamed")

    def __init__(self, data: bytes, literals: Sequence[bytes | None] = ()) -> None:
        """
        @param data: the response text.
        @param literals: the literal bodies in order; C{None} marks a literal
            that was streamed instead of buffered.
        """
        self.data = data
        self.pos = 0
        self._literals = literals
        self._next_literal = 0
        self.last_literal_streamed = False

    def fail(self, expected: str) -> NoReturn:
        """
        Raise L{RemoteProtocolError} for the current position.

        @param expected: what the grammar wanted here.
        @raise RemoteProtocolError: always.
        """
        data, pos = self.data, self.pos
        start = max(0, pos - 30)
        near = data[start : pos + 30]
        raise RemoteProtocolError(
            f"malformed IMAP response: expected {expected} at offset {pos} "
            f"near {near!r} in {quote_bytes(data)}"
        )

    def at_end(self) -> bool:
        """
        @return: whether the whole text has been read.
        """
        return self.pos >= len(self.data)

    def expect_end(self) -> None:
        """
        Require that the whole text has been read.

        @raise RemoteProtocolError: if bytes are left over.
        """
        if self.pos < len(self.data):
            self.fail("end of response")

    def peek(self, token: bytes) -> bool:
        """
        @param token: bytes to look for.
        @return: whether the unread text starts with C{token}.
        """
        return self.data.startswith(token, self.pos)

    def maybe(self, token: bytes) -> bool:
        """
        Consume C{token} if the unread text starts with it.

        @param token: bytes to look for.
        @return: whether it was consumed.
        """
        if self.data.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: bytes) -> None:
        """
        Consume C{token}.

        @param token: the bytes the grammar requires here.
        @raise RemoteProtocolError: if they are not there.
        """
        if not self.data.startswith(token, self.pos):
            self.fail(repr(token))
        self.pos += len(token)

    def space(self) -> None:
        """
        Consume one SP.

        @raise RemoteProtocolError: if it is not there.
        """
        if not self.data.startswith(b" ", self.pos):
            self.fail("SP")
        self.pos += 1

    def _match(self, pattern: re.Pattern[bytes], expected: str) -> re.Match[bytes]:
        """
        Match C{pattern} here and move past it, or fail expecting C{expected}.
        """
        match = pattern.match(self.data, self.pos)
        if match is None:
            self.fail(expected)
        self.pos = match.end()
        return match

    def atom(self) -> bytes:
        """
        @return: an atom (RFC 3501 §9 C{atom}).
        """
        return self._match(_ATOM, "atom").group()

    def keyword(self) -> bytes:
        """
        @return: an atom, upper-cased (IMAP keywords are case-insensitive).
        """
        return self._match(_ATOM, "keyword").group().upper()

    def tag(self) -> bytes:
        """
        @return: a command tag (RFC 3501 §9 C{tag}).
        """
        return self._match(_TAG, "tag").group()

    def number(self, limit: int = MAX_NUMBER) -> int:
        """
        @param limit: the largest acceptable value.
        @return: an unsigned number (RFC 3501 C{number}, 32-bit by default).
        @raise RemoteProtocolError: on a non-digit or a value over C{limit}.
        """
        start = self.pos
        value = int(self._match(_NUMBER, "number").group())
        if value > limit:
            self.pos = start
            self.fail(f"number <= {limit}")
        return value

    def nz_number(self, limit: int = MAX_NUMBER) -> int:
        """
        @param limit: the largest acceptable value.
        @return: a non-zero number (RFC 3501 C{nz-number}).
        """
        start = self.pos
        value = self.number(limit)
        if value == 0:
            self.pos = start
            self.fail("non-zero number")
        return value

    def quoted(self) -> bytes:
        """
        @return: the content of a quoted string, escapes removed.
        """
        content = self._match(_QUOTED, "quoted string").group(1)
        if b"\\" in content:
            content = _UNESCAPE.sub(rb"\1", content)
        return content

    def literal(self, streamable: bool = False) -> bytes:
        """
        Read a literal marker and return the literal's bytes.

        @param streamable: whether a streamed literal may appear here; its
            value is then C{b""} and L{last_literal_streamed} is set.
        @return: the literal (RFC 3501 C{literal}, RFC 3516 C{literal8}).
        """
        start = self.pos
        match = self._match(_LITERAL, "literal")
        index = self._next_literal
        if index >= len(self._literals):
            self.pos = start
            self.fail("literal data")
        self._next_literal = index + 1
        body = self._literals[index]
        if body is None:
            if not streamable:
                self.pos = start
                self.fail("no streamed literal")
            self.last_literal_streamed = True
            return b""
        if len(body) != int(match.group(2)):
            self.pos = start
            self.fail("literal of the announced length")
        self.last_literal_streamed = False
        return body

    def string(self) -> bytes:
        """
        @return: a quoted string or literal (RFC 3501 C{string}).
        """
        if self.data.startswith(b'"', self.pos):
            return self.quoted()
        return self.literal()

    def astring(self) -> bytes:
        """
        @return: an atom (including C{]}) or string (RFC 3501 C{astring}).
        """
        match = _ASTRING_ATOM.match(self.data, self.pos)
        if match is not None:
            self.pos = match.end()
            return match.group()
        return self.string()

    def nstring(self, streamable: bool = False) -> bytes | None:
        """
        @param streamable: passed on to L{literal}.
        @return: a string, or C{None} for C{NIL} (RFC 3501 C{nstring}).
        """
        data, pos = self.data, self.pos
        if data.startswith(b'"', pos):
            return self.quoted()
        if data[pos : pos + 3].upper() == b"NIL":
            self.pos = pos + 3
            return None
        return self.literal(streamable)

    def mailbox(self) -> bytes:
        """
        @return: a mailbox name; any case of C{INBOX} becomes C{b"INBOX"}
            (RFC 3501 §5.1: INBOX is case-insensitive).
        """
        name = self.astring()
        if len(name) == 5 and name.upper() == b"INBOX":
            return b"INBOX"
        return name

    def flag(self) -> bytes:
        """
        @return: a flag, keyword or C{\\*}, as sent.
        """
        return self._match(_FLAG, "flag").group()

    def flag_list(self) -> tuple[bytes, ...]:
        """
        @return: a parenthesized, space-separated list of flags (possibly
            empty), in server order.
        """
        self.expect(b"(")
        if self.maybe(b")"):
            return ()
        start = self.pos
        end = self.data.find(b")", start)
        if end < 0:
            self.fail("')'")
        flags = tuple(self.data[start:end].split(b" "))
        for flag in flags:
            if _FLAG.fullmatch(flag) is None:
                self.fail("flag list")
        self.pos = end + 1
        return flags

    def atoms(self) -> tuple[bytes, ...]:
        """
        Read C{*(SP atom)}, tolerating one trailing SP (sent by some servers).

        @return: the atoms in order.
        """
        found: list[bytes] = []
        while self.maybe(b" "):
            if self.at_end():
                break
            found.append(self.atom())
        return tuple(found)

    def sequence_set(self, allow_star: bool = True) -> SequenceSet:
        """
        @param allow_star: whether C{*} may appear (it may not in RFC 4315
            C{uid-set}).
        @return: a sequence set (see L{SequenceSet}).
        """
        start = self.pos
        text = self._match(_SEQUENCE_SET, "sequence set").group()
        ranges: list[tuple[SeqNumber, SeqNumber]] = []
        for item in text.split(b","):
            low, _, high = item.partition(b":")
            first = self._seq_number(low, allow_star, start)
            last = self._seq_number(high, allow_star, start) if high else first
            if first is STAR:
                first, last = last, first
            elif last is not STAR and last < first:
                first, last = last, first
            ranges.append((first, last))
        return tuple(ranges)

    def _seq_number(self, text: bytes, allow_star: bool, start: int) -> SeqNumber:
        """
        One C{seq-number}: a non-zero 32-bit number or C{*}.
        """
        if text == b"*":
            if not allow_star:
                self.pos = start
                self.fail("uid-set without '*'")
            return STAR
        value = int(text)
        if value == 0 or value > MAX_NUMBER:
            self.pos = start
            self.fail("sequence numbers in 1..4294967295")
        return value

    def text(self) -> bytes:
        """
        @return: the rest of the line (RFC 3501 C{text}), possibly empty.
        """
        return self._match(_TEXT, "text").group()

    def section(self) -> bytes:
        """
        Read a C{[section]} and return its canonical spec: upper-cased, with
        header field names unquoted, upper-cased and single-spaced, e.g.
        C{b"HEADER.FIELDS (X-TUID MESSAGE-ID)"}; C{b""} for C{[]}.

        @return: the canonical section spec.
        """
        self.expect(b"[")
        spec = self._match(_SECTION_SPEC, "section spec").group().upper()
        if self.maybe(b" ("):
            names = [self.astring().upper()]
            while self.maybe(b" "):
                names.append(self.astring().upper())
            self.expect(b")")
            spec = spec + b" (" + b" ".join(names) + b")"
        self.expect(b"]")
        return spec

    def date_time(self) -> tuple[datetime, bytes]:
        """
        Read a quoted C{date-time} (RFC 3501 §9, INTERNALDATE).

        @return: the aware datetime and the raw text between the quotes.
        """
        start = self.pos
        raw = self.quoted()
        value = date_time_value(raw)
        if value is None:
            self.pos = start
            match = _DATE_TIME.fullmatch(raw)
            if match is None or match.group(2).upper() not in _MONTHS:
                self.fail("date-time")
            self.fail("a valid date-time")
        return value, raw

    def value(self, depth: int = 0) -> Value:
        """
        Read any value: list, string, literal, number, atom or C{NIL}.

        @param depth: the current list nesting, bounded by L{MAX_NESTING}.
        @return: the generic value (see L{Value}).
        """
        data, pos = self.data, self.pos
        head = data[pos : pos + 1]
        if head == b"(":
            if depth >= MAX_NESTING:
                self.fail(f"lists nested at most {MAX_NESTING} deep")
            self.pos = pos + 1
            items: list[Value] = []
            if self.maybe(b")"):
                return ()
            items.append(self.value(depth + 1))
            while not self.maybe(b")"):
                self.space()
                items.append(self.value(depth + 1))
            return tuple(items)
        if head == b'"':
            return self.quoted()
        if head == b"{" or head == b"~":
            return self.literal()
        word = self._match(_FLAG, "value").group()
        if word.isdigit() and len(word) <= 20:
            return int(word)
        if len(word) == 3 and word.upper() == b"NIL":
            return None
        return word


PLAIN_CODES: Final = frozenset(
    {b"ALERT", b"PARSE", b"READ-ONLY", b"READ-WRITE", b"TRYCREATE", b"NOMODSEQ", b"CLOSED"}
    | {b"UIDNOTSTICKY", b"UNAVAILABLE", b"AUTHENTICATIONFAILED", b"AUTHORIZATIONFAILED"}
    | {b"EXPIRED", b"PRIVACYREQUIRED", b"CONTACTADMIN", b"NOPERM", b"INUSE", b"EXPUNGEISSUED"}
    | {b"CORRUPTION", b"SERVERBUG", b"CLIENTBUG", b"CANNOT", b"LIMIT", b"OVERQUOTA"}
    | {b"ALREADYEXISTS", b"NONEXISTENT"}
)


def _capability_code(reader: Reader) -> ResponseCode:
    """
    C{CAPABILITY} code: SP-separated atoms, upper-cased.
    """
    return CapabilityCode(frozenset(name.upper() for name in reader.atoms()))


def _permanent_flags_code(reader: Reader) -> ResponseCode:
    """
    C{PERMANENTFLAGS} code: SP flag-list (RFC 3501 §7.1).
    """
    reader.space()
    return PermanentFlagsCode(reader.flag_list())


def _append_uid_code(reader: Reader) -> ResponseCode:
    """
    C{APPENDUID} code: SP nz-number SP uid-set (RFC 4315 §3).
    """
    reader.space()
    validity = reader.nz_number()
    reader.space()
    return AppendUIDCode(validity, reader.sequence_set(allow_star=False))


def _copy_uid_code(reader: Reader) -> ResponseCode:
    """
    C{COPYUID} code: SP nz-number SP uid-set SP uid-set (RFC 4315 §3).
    """
    reader.space()
    validity = reader.nz_number()
    reader.space()
    source = reader.sequence_set(allow_star=False)
    reader.space()
    return CopyUIDCode(validity, source, reader.sequence_set(allow_star=False))


def _modified_code(reader: Reader) -> ResponseCode:
    """
    C{MODIFIED} code: SP sequence-set (RFC 7162 §3.1.3).
    """
    reader.space()
    return ModifiedCode(reader.sequence_set())


_CodeParser: TypeAlias = Callable[[Reader], ResponseCode]


def _number_code(
    kind: type[UIDValidityCode | UIDNextCode | UnseenCode | HighestModSeqCode],
    limit: int = MAX_NUMBER,
) -> _CodeParser:
    """
    @return: a parser for a code whose argument is one non-zero number.
    """

    def parse(reader: Reader) -> ResponseCode:
        """
        Parse this item or code from C{reader}.
        """
        reader.space()
        return kind(reader.nz_number(limit))

    return parse


_CODE_PARSERS: Final[dict[bytes, _CodeParser]] = {
    b"UIDVALIDITY": _number_code(UIDValidityCode),
    b"UIDNEXT": _number_code(UIDNextCode),
    b"UNSEEN": _number_code(UnseenCode),
    b"HIGHESTMODSEQ": _number_code(HighestModSeqCode, MAX_NUMBER64),
    b"PERMANENTFLAGS": _permanent_flags_code,
    b"CAPABILITY": _capability_code,
    b"APPENDUID": _append_uid_code,
    b"COPYUID": _copy_uid_code,
    b"MODIFIED": _modified_code,
}


def response_code(reader: Reader) -> ResponseCode:
    """
    Read a bracketed response code (RFC 3501 §9 C{resp-text-code}).

    @param reader: positioned at the C{[}.
    @return: the typed code; unknown codes become L{OtherCode}.
    @raise RemoteProtocolError: if a known code's arguments are malformed.
    """
    reader.expect(b"[")
    name = reader.keyword()
    parser = _CODE_PARSERS.get(name)
    code: ResponseCode
    if parser is not None:
        code = parser(reader)
    elif name in PLAIN_CODES:
        code = PlainCode(name)
    elif reader.maybe(b" "):
        code = OtherCode(name, reader._match(_CODE_TEXT, "code text").group())
    else:
        code = OtherCode(name, None)
    reader.expect(b"]")
    return code


def response_text(reader: Reader) -> tuple[ResponseCode | None, bytes]:
    """
    Read C{resp-text}: an optional response code, then human-readable text.

    Tolerates what real servers send: no SP after the code, and no text.

    @param reader: positioned after the status word.
    @return: the code (or C{None}) and the text (raw bytes, maybe empty).
    """
    if not reader.maybe(b" "):
        reader.expect_end()
        return None, b""
    code = None
    if reader.peek(b"["):
        code = response_code(reader)
        reader.maybe(b" ")
    return code, reader.text()
