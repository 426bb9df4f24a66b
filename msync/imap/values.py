# -*- test-case-name: tests.imap.test_responses -*-
"""
The typed values of IMAP responses and response codes, produced by
L{msync.imap.responses}.

Import them from here (STYLE: imports name the module that defines a name).

Invariants:
  - Every value is a frozen, slotted record (L{_value}: a dataclass's
    C{__init__}, equality, hash, C{repr} and C{__match_args__}, made at a
    fraction of a dataclass's start-up cost; L{FetchItems}, copied with
    L{dataclasses.replace}, is a L{msync.records.record}); IMAP data stays C{bytes}
    and mailbox names stay C{bytes} (convert with L{msync.imap.utf7}).
  - Values with C{dict} fields compare by value but are not hashable.
  - Nothing here parses; nothing here does I/O; this module imports
    nothing from msync but L{msync.records}'s shared record methods (each
    record's C{__init__} is compiled at its first instantiation).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import field
from datetime import datetime
from typing import ClassVar, Final, TypeAlias, TypeVar, dataclass_transform

from msync.records import (
    equality,
    frozen_guard,
    getstate,
    install_init,
    record,
    setstate,
    shown_repr,
    take_fields,
)

_C = TypeVar("_C", bound=type)


@dataclass_transform(eq_default=True, frozen_default=True, field_specifiers=(field,))
def _value(cls: _C) -> _C:
    """
    Make C{cls} what C{@dataclass(frozen=True, slots=True)} makes of it
    (fields from its annotations, C{ClassVar}s left out; defaults and
    C{field(default_factory=...)}), for a fraction of the start-up cost: a
    dataclass compiles six methods per class, here only C{__init__} is
    compiled (the same code a dataclass's is), equality, hash, C{repr},
    frozenness and pickling are L{msync.records}'s (as a record's).
    C{field(repr=False)} and C{field(compare=False)} are honoured (a
    C{repr} or equality of the class's own then). Not a dataclass for
    L{dataclasses.fields} or L{dataclasses.replace}: a value that is copied
    with changes (L{FetchItems}) stays a dataclass.
    """
    namespace = dict(cls.__dict__)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    every, shown, compared, _ = take_fields(
        cls.__qualname__, namespace.get("__annotations__", {}), namespace
    )
    names = [name for name, _, _ in every]
    eq, hash_ = equality(tuple(compared))
    namespace.update(
        __slots__=tuple(names),
        __match_args__=tuple(names),
        __eq__=eq,
        __hash__=hash_,
        __repr__=shown_repr(tuple(shown)),
        __setattr__=frozen_guard,
        __delattr__=frozen_guard,
        __getstate__=getstate,
        __setstate__=setstate,
    )
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = cls.__qualname__
    install_init(made, every)
    return made


class Star(enum.Enum):
    """
    The C{*} of a sequence set: the largest number in use (RFC 3501 §9
    C{seq-number}).
    """

    STAR = "*"

    def __repr__(self) -> str:
        """
        @return: the sentinel's name.
        """
        return "STAR"


STAR: Final = Star.STAR

SeqNumber: TypeAlias = int | Star
"""One end of a sequence-set range: a number or L{STAR}."""

SequenceSet: TypeAlias = tuple[tuple[SeqNumber, SeqNumber], ...]
"""
A sequence set as C{(low, high)} ranges in server order. A single number
C{n} is C{(n, n)}; numeric ranges are ordered (C{4:2} is C{(2, 4)}); a range
with C{*} keeps the number first (C{*:4} is C{(4, STAR)}); C{*} alone is
C{(STAR, STAR)}.
"""

Value: TypeAlias = "bytes | int | None | tuple[Value, ...]"
"""
A generic IMAP value: an atom or string (C{bytes}), a number (C{int}),
C{NIL} (C{None}) or a parenthesized list (C{tuple}).
"""

# Response codes (RFC 3501 §7.1, RFC 4315, RFC 5530, RFC 7162).


@_value
class PlainCode:
    """
    A response code without arguments, e.g. C{ALERT}, C{TRYCREATE},
    C{READ-WRITE}, C{NOMODSEQ}, C{CLOSED}.

    @ivar name: the upper-cased code name.
    """

    name: bytes


@_value
class OtherCode:
    """
    A response code msync does not interpret, kept verbatim.

    @ivar name: the upper-cased code name.
    @ivar text: the raw bytes after the name and its SP, or C{None}.
    """

    name: bytes
    text: bytes | None


@_value
class UIDValidityCode:
    """
    C{[UIDVALIDITY n]} (RFC 3501 §7.1).
    """

    name: ClassVar[bytes] = b"UIDVALIDITY"
    value: int


@_value
class UIDNextCode:
    """
    C{[UIDNEXT n]} (RFC 3501 §7.1).
    """

    name: ClassVar[bytes] = b"UIDNEXT"
    value: int


@_value
class UnseenCode:
    """
    C{[UNSEEN n]}: the first unseen message's sequence number.
    """

    name: ClassVar[bytes] = b"UNSEEN"
    value: int


@_value
class HighestModSeqCode:
    """
    C{[HIGHESTMODSEQ n]} (RFC 7162 §3.1.2.1).
    """

    name: ClassVar[bytes] = b"HIGHESTMODSEQ"
    value: int


@_value
class PermanentFlagsCode:
    """
    C{[PERMANENTFLAGS (...)]}; C{\\*} means new keywords may be created.
    """

    name: ClassVar[bytes] = b"PERMANENTFLAGS"
    flags: tuple[bytes, ...]


@_value
class CapabilityCode:
    """
    C{[CAPABILITY ...]}, names upper-cased (capabilities are case-insensitive).
    """

    name: ClassVar[bytes] = b"CAPABILITY"
    names: frozenset[bytes]


@_value
class AppendUIDCode:
    """
    C{[APPENDUID uidvalidity uid-set]} (RFC 4315 §3).
    """

    name: ClassVar[bytes] = b"APPENDUID"
    uid_validity: int
    uids: SequenceSet


@_value
class CopyUIDCode:
    """
    C{[COPYUID uidvalidity source-set destination-set]} (RFC 4315 §3).
    """

    name: ClassVar[bytes] = b"COPYUID"
    uid_validity: int
    source: SequenceSet
    destination: SequenceSet


@_value
class ModifiedCode:
    """
    C{[MODIFIED set]}: messages a conditional STORE left alone (RFC 7162).
    """

    name: ClassVar[bytes] = b"MODIFIED"
    numbers: SequenceSet


ResponseCode: TypeAlias = (
    PlainCode
    | OtherCode
    | UIDValidityCode
    | UIDNextCode
    | UnseenCode
    | HighestModSeqCode
    | PermanentFlagsCode
    | CapabilityCode
    | AppendUIDCode
    | CopyUIDCode
    | ModifiedCode
)
"""Every response code value; each has a C{name}."""


class NeedData(enum.Enum):
    """
    The type of L{NEED_DATA}.
    """

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        """
        @return: the sentinel's name.
        """
        return "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA
"""Returned by L{ResponseParser.next_event} until a whole event has arrived."""


class Status(enum.Enum):
    """
    The status word of a status response (RFC 3501 §7.1).
    """

    OK = b"OK"
    NO = b"NO"
    BAD = b"BAD"
    PREAUTH = b"PREAUTH"
    BYE = b"BYE"


@_value
class TaggedResponse:
    """
    C{tag OK|NO|BAD [code] text}: completion of the command with C{tag}.

    @ivar status: L{Status.OK}, L{Status.NO} or L{Status.BAD}.
    @ivar text: the human-readable text, raw bytes.
    """

    tag: bytes
    status: Status
    code: ResponseCode | None
    text: bytes


@_value
class UntaggedStatus:
    """
    C{* OK|NO|BAD|PREAUTH|BYE [code] text}, including the greeting.
    """

    status: Status
    code: ResponseCode | None
    text: bytes


@_value
class ContinuationRequest:
    """
    C{+ data}: the server awaits a literal or the next SASL step.

    @ivar data: everything after C{"+ "}, raw (base64 for SASL, not decoded).
    """

    data: bytes


@_value
class Capability:
    """
    C{* CAPABILITY ...}; names upper-cased (they are case-insensitive).
    """

    names: frozenset[bytes]


@_value
class FlagsResponse:
    """
    C{* FLAGS (...)}: the flags defined in the selected mailbox.
    """

    flags: tuple[bytes, ...]


@_value
class ExistsResponse:
    """
    C{* n EXISTS}.
    """

    count: int


@_value
class RecentResponse:
    """
    C{* n RECENT}.
    """

    count: int


@_value
class ExpungeResponse:
    """
    C{* n EXPUNGE}: message sequence number C{seq} is gone.
    """

    seq: int


@record
class FetchItems:
    """
    The data items of one FETCH response; absent items are C{None}/empty.

    @ivar flags: flags in server order, or C{None} if FLAGS was not sent.
    @ivar internal_date: INTERNALDATE as an aware datetime;
        C{internal_date_raw} keeps the server's text.
    @ivar sections: body section data by canonical section spec (see
        L{Reader.section}): C{BODY[]} is C{b""},
        C{BODY[HEADER.FIELDS (X-TUID)]} is C{b"HEADER.FIELDS (X-TUID)"}.
        C{RFC822}, C{RFC822.HEADER} and C{RFC822.TEXT} are stored as C{b""},
        C{b"HEADER"} and C{b"TEXT"}. C{NIL} data is C{None}.
    @ivar origins: the C{<origin>} octet offset of partial sections.
    @ivar binary: C{BINARY[section]} data (RFC 3516), keyed like C{sections}.
    @ivar streamed: sections delivered as L{LiteralChunk} events instead.
    @ivar other: items msync does not interpret (BODYSTRUCTURE, ENVELOPE,
        X-GM-LABELS, ...) as generic values, by upper-cased name.
    """

    uid: int | None = None
    flags: tuple[bytes, ...] | None = None
    size: int | None = None
    internal_date: datetime | None = None
    internal_date_raw: bytes | None = None
    modseq: int | None = None
    sections: dict[bytes, bytes | None] = field(default_factory=dict)
    origins: dict[bytes, int] = field(default_factory=dict)
    binary: dict[bytes, bytes | None] = field(default_factory=dict)
    streamed: frozenset[bytes] = frozenset()
    other: dict[bytes, Value] = field(default_factory=dict)


@_value
class FetchResponse:
    """
    C{* seq FETCH (...)}.
    """

    seq: int
    items: FetchItems


@_value
class ListResponse:
    """
    C{* LIST|LSUB|XLIST (attributes) delimiter name [extended]}.

    @ivar kind: C{b"LIST"}, C{b"LSUB"} or C{b"XLIST"}.
    @ivar attributes: as sent (compare case-insensitively).
    @ivar delimiter: the hierarchy delimiter, or C{None} for C{NIL}.
    @ivar name: the raw (modified UTF-7) name; C{INBOX} upper-cased.
    @ivar extended: RFC 5258 extended data as a generic list, or C{None}.
    """

    kind: bytes
    attributes: tuple[bytes, ...]
    delimiter: bytes | None
    name: bytes
    extended: tuple[Value, ...] | None = None


@_value
class Namespace:
    """
    One namespace description (RFC 2342 §5).

    @ivar extensions: C{(name, values)} pairs of namespace extensions.
    """

    prefix: bytes
    delimiter: bytes | None
    extensions: tuple[tuple[bytes, tuple[bytes, ...]], ...] = ()


@_value
class NamespaceResponse:
    """
    C{* NAMESPACE personal other shared}; C{NIL} is an empty tuple.
    """

    personal: tuple[Namespace, ...]
    other_users: tuple[Namespace, ...]
    shared: tuple[Namespace, ...]


@_value
class StatusResponse:
    """
    C{* STATUS mailbox (...)}; items not sent are C{None}.

    @ivar other: unknown status items by upper-cased name.
    """

    mailbox: bytes
    messages: int | None = None
    uid_next: int | None = None
    uid_validity: int | None = None
    unseen: int | None = None
    recent: int | None = None
    highest_modseq: int | None = None
    other: dict[bytes, int] = field(default_factory=dict)


@_value
class SearchResponse:
    """
    C{* SEARCH n...} with the RFC 7162 C{(MODSEQ n)} if sent.
    """

    numbers: tuple[int, ...]
    modseq: int | None = None


@_value
class ESearchResponse:
    """
    C{* ESEARCH} (RFC 4731).

    @ivar tag: the C{(TAG "x")} correlator, or C{None}.
    @ivar uid: whether the numbers are UIDs.
    @ivar all: the C{ALL} sequence set, or C{None}.
    @ivar other: unknown return data by upper-cased name.
    """

    tag: bytes | None
    uid: bool
    min: int | None = None
    max: int | None = None
    count: int | None = None
    all: SequenceSet | None = None
    modseq: int | None = None
    other: dict[bytes, Value] = field(default_factory=dict)


@_value
class VanishedResponse:
    """
    C{* VANISHED [(EARLIER)] uids} (RFC 7162 §3.2.10).
    """

    earlier: bool
    uids: SequenceSet


@_value
class EnabledResponse:
    """
    C{* ENABLED ...} (RFC 5161); names upper-cased.
    """

    names: frozenset[bytes]


@_value
class IDResponse:
    """
    C{* ID (...)} (RFC 2971); C{fields} is C{None} for C{* ID NIL}.
    """

    fields: dict[bytes, bytes | None] | None


@_value
class UnknownResponse:
    """
    An untagged response msync does not know, kept verbatim.

    @ivar keyword: the upper-cased response name (or the word after a number).
    @ivar raw: the response text after C{"* "} (literal markers included).
    @ivar literals: the literals' bytes, in order.
    """

    keyword: bytes
    raw: bytes
    literals: tuple[bytes | None, ...] = ()


@record
class LiteralChunk:
    """
    Part of a streamed FETCH body literal; all chunks of one literal arrive
    in order before the L{FetchResponse} that lists C{section} in
    L{FetchItems.streamed}.

    @ivar seq: the message sequence number of the FETCH.
    @ivar section: the canonical section spec (see L{FetchItems.sections}).
    @ivar data: the next bytes of the literal (never empty).
    @ivar last: whether this chunk completes the literal.
    @ivar uid: the UID the response named before the literal, if it did
        (what a FETCH of several UIDs routes the chunk by); not compared
        (so a dataclass: L{_value} compares every field).
    """

    seq: int
    section: bytes
    data: bytes
    last: bool
    uid: int | None = field(default=None, compare=False)


Response: TypeAlias = (
    TaggedResponse
    | UntaggedStatus
    | ContinuationRequest
    | Capability
    | FlagsResponse
    | ExistsResponse
    | RecentResponse
    | ExpungeResponse
    | FetchResponse
    | ListResponse
    | NamespaceResponse
    | StatusResponse
    | SearchResponse
    | ESearchResponse
    | VanishedResponse
    | EnabledResponse
    | IDResponse
    | UnknownResponse
)
"""Every complete response."""

Event: TypeAlias = Response | LiteralChunk
"""What L{ResponseParser.next_event} returns besides L{NEED_DATA}."""

StreamDecision: TypeAlias = Callable[[int, bytes, int], bool]
"""
C{(seq, section, size) -> stream?}: asked once per non-empty FETCH body
literal (C{BODY[...]}, C{RFC822}, C{RFC822.TEXT}) when its size is known.
"""
