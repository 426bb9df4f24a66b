# -*- test-case-name: tests.imap.test_responses -*-
"""
Parsers for each kind of untagged response (RFC 3501 §7.2–7.4 and
extensions), dispatched by keyword through tables.

Invariants:
  - Pure: stdlib only, no I/O.
  - Each parser reads exactly its response's grammar from a L{Reader} and
    raises L{RemoteProtocolError} (through the reader) on anything else.
  - Unknown untagged responses are kept verbatim as L{UnknownResponse}.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

from msync.imap.grammar import (
    MAX_NUMBER,
    MAX_NUMBER64,
    Reader,
    date_time_value,
    response_text,
)
from msync.imap.values import (
    Capability,
    EnabledResponse,
    ESearchResponse,
    ExistsResponse,
    ExpungeResponse,
    FetchItems,
    FetchResponse,
    FlagsResponse,
    IDResponse,
    ListResponse,
    Namespace,
    NamespaceResponse,
    RecentResponse,
    Response,
    SearchResponse,
    SequenceSet,
    Status,
    StatusResponse,
    UnknownResponse,
    UntaggedStatus,
    Value,
    VanishedResponse,
)

_UNTAGGED_STATUSES: Final = frozenset({b"OK", b"NO", b"BAD", b"PREAUTH", b"BYE"})
# Possessive: no backtracking state kept per number of a long answer.
_SEARCH_NUMBERS = re.compile(rb"(?: [0-9]{1,10})++")


class _FetchBuilder:
    """
    Mutable accumulator for one FETCH response's items.
    """

    __slots__ = (
        "uid",
        "flags",
        "size",
        "internal_date",
        "internal_date_raw",
        "modseq",
        "sections",
        "origins",
        "binary",
        "streamed",
        "other",
    )

    def __init__(self) -> None:
        """
        Start with nothing set.
        """
        self.uid: int | None = None
        self.flags: tuple[bytes, ...] | None = None
        self.size: int | None = None
        self.internal_date: datetime | None = None
        self.internal_date_raw: bytes | None = None
        self.modseq: int | None = None
        self.sections: dict[bytes, bytes | None] = {}
        self.origins: dict[bytes, int] = {}
        self.binary: dict[bytes, bytes | None] = {}
        self.streamed: set[bytes] = set()
        self.other: dict[bytes, Value] = {}

    def build(self) -> FetchItems:
        """
        @return: the frozen items.
        """
        # A flags-only FETCH (a box's listing: one per message, all kept
        # until the command completes) shares the empty values: ~470 bytes
        # a message. Nothing mutates a built FetchItems' containers.
        return FetchItems(
            self.uid,
            self.flags,
            self.size,
            self.internal_date,
            self.internal_date_raw,
            self.modseq,
            self.sections or _NO_BYTES,
            self.origins or _NO_ORIGINS,
            self.binary or _NO_BYTES,
            frozenset(self.streamed) if self.streamed else _NO_STREAMED,
            self.other or _NO_OTHER,
        )


_NO_BYTES: dict[bytes, bytes | None] = {}
_NO_ORIGINS: dict[bytes, int] = {}
_NO_OTHER: dict[bytes, Value] = {}
_NO_STREAMED: frozenset[bytes] = frozenset()


def _fetch_uid(reader: Reader, items: _FetchBuilder) -> None:
    """
    C{UID} nz-number.
    """
    items.uid = reader.nz_number()


def _fetch_flags(reader: Reader, items: _FetchBuilder) -> None:
    """
    C{FLAGS} flag-list.
    """
    items.flags = reader.flag_list()


def _fetch_size(reader: Reader, items: _FetchBuilder) -> None:
    """
    C{RFC822.SIZE} number.
    """
    items.size = reader.number()


def _fetch_internal_date(reader: Reader, items: _FetchBuilder) -> None:
    """
    C{INTERNALDATE} date-time.
    """
    items.internal_date, items.internal_date_raw = reader.date_time()


def _fetch_modseq(reader: Reader, items: _FetchBuilder) -> None:
    # RFC 7162 §3.1.4.1: "MODSEQ" SP "(" permsg-modsequence ")"
    """
    C{MODSEQ} (mod-sequence-value).
    """
    reader.expect(b"(")
    items.modseq = reader.number(MAX_NUMBER64)
    reader.expect(b")")


def _body_data(reader: Reader, items: _FetchBuilder, section: bytes) -> None:
    """
    The nstring of a body section, or note that it was streamed.
    """
    value = reader.nstring(streamable=True)
    if reader.last_literal_streamed:
        reader.last_literal_streamed = False
        items.streamed.add(section)
    else:
        items.sections[section] = value


def _fetch_rfc822_part(section: bytes) -> Callable[[Reader, _FetchBuilder], None]:
    """
    @return: a parser storing C{RFC822[.HEADER|.TEXT]} under C{section}.
    """

    def parse(reader: Reader, items: _FetchBuilder) -> None:
        """
        Parse this item or code from C{reader}.
        """
        _body_data(reader, items, section)

    return parse


def _fetch_body(reader: Reader, items: _FetchBuilder) -> None:
    """
    C{BODY[section]<origin> nstring}, or C{BODY} body-structure.
    """
    if not reader.peek(b"["):
        # "BODY" alone is the non-extensible BODYSTRUCTURE.
        reader.space()
        items.other[b"BODY"] = reader.value()
        return
    section = reader.section()
    if reader.maybe(b"<"):
        items.origins[section] = reader.number()
        reader.expect(b">")
    reader.space()
    _body_data(reader, items, section)


def _fetch_binary(reader: Reader, items: _FetchBuilder) -> None:
    """
    C{BINARY[section] nstring} (RFC 3516).
    """
    section = reader.section()
    reader.space()
    items.binary[section] = reader.nstring()


_FETCH_ITEMS: Final[dict[bytes, Callable[[Reader, _FetchBuilder], None]]] = {
    b"UID": _fetch_uid,
    b"FLAGS": _fetch_flags,
    b"RFC822.SIZE": _fetch_size,
    b"INTERNALDATE": _fetch_internal_date,
    b"MODSEQ": _fetch_modseq,
    b"RFC822": _fetch_rfc822_part(b""),
    b"RFC822.HEADER": _fetch_rfc822_part(b"HEADER"),
    b"RFC822.TEXT": _fetch_rfc822_part(b"TEXT"),
}
# Items whose name is directly followed by "[" rather than SP.
_FETCH_SECTION_ITEMS: Final[dict[bytes, Callable[[Reader, _FetchBuilder], None]]] = {
    b"BODY": _fetch_body,
    b"BINARY": _fetch_binary,
}
_FETCH_NAME = re.compile(rb"[A-Za-z0-9.\-]+")
# The hot path of a sync (a FLAGS listing of a large mailbox): UID, FLAGS,
# RFC822.SIZE and MODSEQ in one match each, with the separator that follows.
_ATOM_CHARS = rb'[^\x00-\x20\x7f-\xff(){%*"\\\]]'
_FLAG_RE = rb"(?:\\?" + _ATOM_CHARS + rb"+|\\\*)"
_FAST_ITEM = re.compile(
    rb"(?:UID ([0-9]{1,10})|FLAGS \(((?:"
    + _FLAG_RE
    + rb"(?: "
    + _FLAG_RE
    + rb")*)?)\)|RFC822\.SIZE ([0-9]{1,10})|MODSEQ \(([0-9]{1,19})\))([ )])",
    re.IGNORECASE,
)


def _fetch_item(reader: Reader, items: _FetchBuilder) -> None:
    """
    One FETCH item by name, through the item tables (the slow path).
    """
    match = _FETCH_NAME.match(reader.data, reader.pos)
    if match is None:
        reader.fail("FETCH item name")
    reader.pos = match.end()
    name = match.group().upper()
    parse = _FETCH_SECTION_ITEMS.get(name)
    if parse is None:
        reader.space()
        parse = _FETCH_ITEMS.get(name)
    if parse is not None:
        parse(reader, items)
    else:
        items.other[name] = reader.value()


_FLAG_LISTS: dict[bytes, tuple[bytes, ...]] = {}
_FLAG_LISTS_KEPT: Final = 512


def _fetch(reader: Reader, seq: int) -> Response:
    """
    C{FETCH} msg-att: the fast path for common items, else L{_fetch_item}.
    """
    reader.expect(b" (")
    items = _FetchBuilder()
    data = reader.data
    fast = _FAST_ITEM.match
    while True:
        match = fast(data, reader.pos)
        if match is None:
            _fetch_item(reader, items)
            if reader.maybe(b")"):
                break
            reader.space()
            continue
        uid, flags, size, modseq, separator = match.groups()
        if uid is not None:
            items.uid = int(uid)
            if not 0 < items.uid <= MAX_NUMBER:
                reader.fail("UID in 1..4294967295")
        elif flags is not None:
            items.flags = _flag_list(flags)
        elif size is not None:
            items.size = int(size)
            if items.size > MAX_NUMBER:
                reader.fail("RFC822.SIZE <= 4294967295")
        else:
            items.modseq = int(modseq)
            if items.modseq > MAX_NUMBER64:
                reader.fail("MODSEQ <= 2**63 - 1")
        reader.pos = match.end()
        if separator == b")":
            break
    return FetchResponse(seq, items.build())


def _flag_list(flags: bytes) -> tuple[bytes, ...]:
    """
    The flags of a flag list's text (between its parentheses), one tuple
    per distinct text, not one per message.
    """
    known = _FLAG_LISTS.get(flags)
    if known is None:
        known = tuple(flags.split(b" ")) if flags else ()
        if len(_FLAG_LISTS) < _FLAG_LISTS_KEPT:
            _FLAG_LISTS[flags] = known
    return known


#: The first line of a pull's body FETCH response as servers send it
#: (Dovecot; the items in the order asked): C{* seq FETCH (UID uid FLAGS
#: (flags) INTERNALDATE "date" BODY[] {size}}. Groups: seq, UID, the
#: flags' text, the date's text, the literal's size.
BODY_FETCH_HEAD: Final = re.compile(
    rb"\* ([0-9]{1,10}) FETCH \(UID ([0-9]{1,10}) FLAGS \(((?:"
    + _FLAG_RE
    + rb"(?: "
    + _FLAG_RE
    + rb')*)?)\) INTERNALDATE "([^"\\\r\n\x00]*)" BODY\[\] \{([0-9]{1,20})\}\Z',
    re.IGNORECASE,
)
_STREAMED_BODY: Final = frozenset({b""})


def body_fetch(head: re.Match[bytes], body: bytes | None) -> FetchResponse | None:
    """
    The response whose first line matched L{BODY_FETCH_HEAD}, its literal
    (C{None}: streamed) and then only C{")"}: the same value as
    L{parse_response} gives for its text, without reading it item by item.

    @return: the response, or C{None} if the values are out of range (a
        sequence number or UID of 0 or over 32 bits, an impossible date):
        the general parser then says what is wrong.
    """
    seq_text, uid_text, flags, raw_date, _ = head.groups()
    seq = int(seq_text)
    uid = int(uid_text)
    if not (0 < seq <= MAX_NUMBER and 0 < uid <= MAX_NUMBER):
        return None
    date = date_time_value(raw_date)
    if date is None:
        return None
    if body is None:
        sections, streamed = _NO_BYTES, _STREAMED_BODY
    else:
        sections, streamed = {b"": body}, _NO_STREAMED
    items = FetchItems(
        uid,
        _flag_list(flags),
        None,
        date,
        raw_date,
        None,
        sections,
        _NO_ORIGINS,
        _NO_BYTES,
        streamed,
        _NO_OTHER,
    )
    return FetchResponse(seq, items)


#: A listing's FETCH line as servers send it (Dovecot, the items in the
#: order asked): C{* seq FETCH (UID uid FLAGS (flags) MODSEQ (n))}, MODSEQ
#: absent without CONDSTORE. Groups: seq, UID, the flags' text, MODSEQ.
LISTING_FETCH: Final = re.compile(
    rb"\* ([0-9]{1,10}) FETCH \(UID ([0-9]{1,10}) FLAGS \(((?:"
    + _FLAG_RE
    + rb"(?: "
    + _FLAG_RE
    + rb")*)?)\)(?: MODSEQ \(([0-9]{1,19})\))?\)\Z",
    re.IGNORECASE,
)


def listing_fetch(line: re.Match[bytes]) -> FetchResponse | None:
    """
    The response whose line matched L{LISTING_FETCH}: the same value as
    L{parse_response} gives for it, without reading it item by item.

    @return: the response, or C{None} if a value is out of range (the
        general parser then says what is wrong).
    """
    seq_text, uid_text, flags, modseq_text = line.groups()
    seq = int(seq_text)
    uid = int(uid_text)
    modseq = None if modseq_text is None else int(modseq_text)
    if not (0 < seq <= MAX_NUMBER and 0 < uid <= MAX_NUMBER):
        return None
    if modseq is not None and modseq > MAX_NUMBER64:
        return None
    items = FetchItems(
        uid,
        _flag_list(flags),
        None,
        None,
        None,
        modseq,
        _NO_BYTES,
        _NO_ORIGINS,
        _NO_BYTES,
        _NO_STREAMED,
        _NO_OTHER,
    )
    return FetchResponse(seq, items)


def _exists(reader: Reader, number: int) -> Response:
    """
    C{n EXISTS}.
    """
    return ExistsResponse(number)


def _recent(reader: Reader, number: int) -> Response:
    """
    C{n RECENT}.
    """
    return RecentResponse(number)


def _expunge(reader: Reader, number: int) -> Response:
    """
    C{n EXPUNGE}; n is a non-zero sequence number.
    """
    if number == 0:
        reader.fail("non-zero sequence number")
    return ExpungeResponse(number)


def _fetch_numbered(reader: Reader, number: int) -> Response:
    """
    C{n FETCH (...)}; n is a non-zero sequence number.
    """
    if number == 0:
        reader.fail("non-zero sequence number")
    return _fetch(reader, number)


_NUMBERED: Final[dict[bytes, Callable[[Reader, int], Response]]] = {
    b"EXISTS": _exists,
    b"RECENT": _recent,
    b"EXPUNGE": _expunge,
    b"FETCH": _fetch_numbered,
}


def _capability(reader: Reader) -> Response:
    """
    C{CAPABILITY} atoms.
    """
    return Capability(frozenset(name.upper() for name in reader.atoms()))


def _enabled(reader: Reader) -> Response:
    """
    C{ENABLED} atoms (RFC 5161).
    """
    return EnabledResponse(frozenset(name.upper() for name in reader.atoms()))


def _flags(reader: Reader) -> Response:
    """
    C{FLAGS} flag-list.
    """
    reader.space()
    return FlagsResponse(reader.flag_list())


def _delimiter(reader: Reader) -> bytes | None:
    """
    A hierarchy delimiter: one quoted character or NIL.
    """
    start = reader.pos
    delimiter = reader.nstring()
    if delimiter is not None and len(delimiter) != 1:
        reader.pos = start
        reader.fail("a one-character delimiter or NIL")
    return delimiter


def _list_parser(kind: bytes) -> Callable[[Reader], Response]:
    """
    @return: a parser for C{LIST}, C{LSUB} or C{XLIST} data.
    """

    def parse(reader: Reader) -> Response:
        """
        Parse this item or code from C{reader}.
        """
        reader.space()
        attributes = reader.flag_list()
        reader.space()
        delimiter = _delimiter(reader)
        reader.space()
        name = reader.mailbox()
        extended = None
        if reader.maybe(b" "):
            value = reader.value()
            if not isinstance(value, tuple):
                reader.fail("LIST extended data list")
            extended = value
        return ListResponse(kind, attributes, delimiter, name, extended)

    return parse


def _namespaces(reader: Reader) -> tuple[Namespace, ...]:
    """
    One of the three NAMESPACE lists, or NIL (RFC 2342 §5).
    """
    if reader.data[reader.pos : reader.pos + 3].upper() == b"NIL":
        reader.pos += 3
        return ()
    reader.expect(b"(")
    found: list[Namespace] = []
    while True:
        reader.expect(b"(")
        prefix = reader.string()
        reader.space()
        delimiter = _delimiter(reader)
        extensions: list[tuple[bytes, tuple[bytes, ...]]] = []
        while reader.maybe(b" "):
            # RFC 2342 §5 Namespace_Response_Extension: SP string SP "(" string *(SP string) ")"
            extension = reader.string()
            reader.expect(b" (")
            values = [reader.string()]
            while reader.maybe(b" "):
                values.append(reader.string())
            reader.expect(b")")
            extensions.append((extension, tuple(values)))
        reader.expect(b")")
        found.append(Namespace(prefix, delimiter, tuple(extensions)))
        # Some servers (Courier) separate descriptions with SP, most do not.
        reader.maybe(b" ")
        if reader.maybe(b")"):
            return tuple(found)


def _namespace(reader: Reader) -> Response:
    """
    C{NAMESPACE} personal other shared.
    """
    reader.space()
    personal = _namespaces(reader)
    reader.space()
    other_users = _namespaces(reader)
    reader.space()
    return NamespaceResponse(personal, other_users, _namespaces(reader))


_STATUS_ITEMS: Final = {
    b"MESSAGES": "messages",
    b"UIDNEXT": "uid_next",
    b"UIDVALIDITY": "uid_validity",
    b"UNSEEN": "unseen",
    b"RECENT": "recent",
    b"HIGHESTMODSEQ": "highest_modseq",
}


def _status(reader: Reader) -> Response:
    """
    C{STATUS} mailbox (name value ...).
    """
    reader.space()
    mailbox = reader.mailbox()
    reader.expect(b" (")
    known: dict[str, int] = {}
    other: dict[bytes, int] = {}
    if not reader.maybe(b")"):
        while True:
            name = reader.keyword()
            reader.space()
            value = reader.number(MAX_NUMBER64)
            attribute = _STATUS_ITEMS.get(name)
            if attribute is None:
                other[name] = value
            else:
                known[attribute] = value
            if reader.maybe(b")"):
                break
            reader.space()
    return StatusResponse(mailbox, other=other, **known)


def _modseq_suffix(reader: Reader) -> int:
    """
    The RFC 7162 C{(MODSEQ n)} after SEARCH results.
    """
    reader.expect(b"(")
    if reader.keyword() != b"MODSEQ":
        reader.fail("MODSEQ")
    reader.space()
    modseq = reader.nz_number(MAX_NUMBER64)
    reader.expect(b")")
    return modseq


def _search(reader: Reader) -> Response:
    """
    C{SEARCH} numbers, tolerating a trailing SP.
    """
    numbers: tuple[int, ...] = ()
    match = _SEARCH_NUMBERS.match(reader.data, reader.pos)
    if match is not None:
        reader.pos = match.end()
        numbers = tuple(map(int, match.group().split()))
        if max(numbers) > 0xFFFFFFFF or 0 in numbers:
            reader.fail("SEARCH numbers in 1..4294967295")
    modseq = None
    if reader.maybe(b" ") and not reader.at_end():
        modseq = _modseq_suffix(reader)
    return SearchResponse(numbers, modseq)


def _esearch(reader: Reader) -> Response:
    """
    C{ESEARCH} (RFC 4731 §3.1).
    """
    tag = None
    if reader.maybe(b" ("):
        if reader.keyword() != b"TAG":
            reader.fail("TAG")
        reader.space()
        tag = reader.string()
        reader.expect(b")")
    uid = False
    numbers: dict[bytes, int] = {}
    all_numbers: SequenceSet | None = None
    other: dict[bytes, Value] = {}
    while reader.maybe(b" "):
        name = reader.keyword()
        if name == b"UID" and not uid and not numbers and all_numbers is None and not other:
            uid = True
            continue
        reader.space()
        if name in (b"MIN", b"MAX"):
            numbers[name] = reader.nz_number()
        elif name == b"COUNT":
            numbers[name] = reader.number()
        elif name == b"MODSEQ":
            numbers[name] = reader.nz_number(MAX_NUMBER64)
        elif name == b"ALL":
            all_numbers = reader.sequence_set(allow_star=False)
        else:
            other[name] = reader.value()
    get = numbers.get
    return ESearchResponse(
        tag, uid, get(b"MIN"), get(b"MAX"), get(b"COUNT"), all_numbers, get(b"MODSEQ"), other
    )


def _vanished(reader: Reader) -> Response:
    """
    C{VANISHED [(EARLIER)] uid-set} (RFC 7162 §3.2.10).
    """
    reader.space()
    earlier = False
    if reader.maybe(b"("):
        if reader.keyword() != b"EARLIER":
            reader.fail("EARLIER")
        reader.expect(b") ")
        earlier = True
    return VanishedResponse(earlier, reader.sequence_set(allow_star=False))


def _id(reader: Reader) -> Response:
    """
    C{ID} NIL or (key value ...) (RFC 2971).
    """
    reader.space()
    if reader.data[reader.pos : reader.pos + 3].upper() == b"NIL":
        reader.pos += 3
        return IDResponse(None)
    reader.expect(b"(")
    fields: dict[bytes, bytes | None] = {}
    if not reader.maybe(b")"):
        while True:
            key = reader.string()
            reader.space()
            fields[key] = reader.nstring()
            if reader.maybe(b")"):
                break
            reader.space()
    return IDResponse(fields)


_UNTAGGED: Final[dict[bytes, Callable[[Reader], Response]]] = {
    b"CAPABILITY": _capability,
    b"ENABLED": _enabled,
    b"FLAGS": _flags,
    b"LIST": _list_parser(b"LIST"),
    b"LSUB": _list_parser(b"LSUB"),
    b"XLIST": _list_parser(b"XLIST"),
    b"NAMESPACE": _namespace,
    b"STATUS": _status,
    b"SEARCH": _search,
    b"ESEARCH": _esearch,
    b"VANISHED": _vanished,
    b"ID": _id,
}


def parse_untagged(reader: Reader, literals: Sequence[bytes | None]) -> Response:
    """
    Parse an untagged response after its C{"* "}.

    @param reader: positioned after C{"* "}.
    @param literals: the response's literals, kept by L{UnknownResponse}.
    @return: the typed response.
    @raise RemoteProtocolError: if the response is malformed.
    """
    data = reader.data
    if data[2:3].isdigit():
        number = reader.number()
        reader.space()
        keyword = reader.keyword()
        numbered = _NUMBERED.get(keyword)
        if numbered is not None:
            return numbered(reader, number)
    else:
        keyword = reader.keyword()
        if keyword in _UNTAGGED_STATUSES:
            code, text = response_text(reader)
            return UntaggedStatus(Status(keyword), code, text)
        parse = _UNTAGGED.get(keyword)
        if parse is not None:
            return parse(reader)
    reader.pos = len(data)
    return UnknownResponse(keyword, data[2:], tuple(literals))
