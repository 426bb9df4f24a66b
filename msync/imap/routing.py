# -*- test-case-name: tests.imap.test_connection -*-
"""
Where untagged responses belong, and what they say about the selected
mailbox: the tables and pure functions L{msync.imap.connection} routes by.

Invariants:
  - Pure: stdlib and L0/L1 msync modules only.
  - L{PRODUCERS} lists, for each untagged response type, the commands that
    can answer with it; FETCH data is routed by UID among the commands in
    L{FETCH_ANSWERED}, each described by its L{fetch_cover}.
  - Two commands whose covers are L{ambiguous} are never in flight together,
    so that a UID names at most one owner.
  - L{SelectedMailbox} values are immutable; the update functions return
    new ones.
  - What one command keeps of its untagged data is bounded by the server's
    mailbox, not by how much the server sends (L{retention_key}): status
    data (untagged C{OK}/C{NO}, C{EXISTS}, C{RECENT}, C{FLAGS},
    C{EXPUNGE}, ...) is coalesced to the latest of each kind, FETCH data to
    one response per UID (L{merge_fetch}: a body section is kept the first
    time only), and a listing holds at most L{MAX_LISTED} mailboxes, each
    name at most L{MAX_MAILBOX_NAME} bytes.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import replace
from typing import Final

from msync.errors import RemoteProtocolError
from msync.imap.commands import Command
from msync.imap.uids import UIDCover, UIDRange
from msync.imap.values import (
    STAR,
    Capability,
    EnabledResponse,
    ESearchResponse,
    ExistsResponse,
    ExpungeResponse,
    FetchItems,
    FetchResponse,
    FlagsResponse,
    HighestModSeqCode,
    IDResponse,
    ListResponse,
    NamespaceResponse,
    PermanentFlagsCode,
    PlainCode,
    RecentResponse,
    Response,
    ResponseCode,
    SearchResponse,
    StatusResponse,
    UIDNextCode,
    UIDValidityCode,
    UnseenCode,
    UntaggedStatus,
    VanishedResponse,
)
from msync.records import record

ALERT: Final = PlainCode(b"ALERT")
SELECTION: Final = frozenset({b"SELECT", b"EXAMINE"})
MAILBOX_CHANGES: Final = frozenset({b"EXPUNGE", b"UID EXPUNGE", b"UID MOVE", b"CLOSE"})
# RFC 3501 §6.4.5, §6.4.6 (and RFC 7162 §3.1.3: .SILENT still reports
# MODSEQ): the commands FETCH data answers. UID COPY and UID MOVE answer
# with no FETCH, so FETCH data while they run is another client's news.
FETCH_ANSWERED: Final = frozenset({b"UID FETCH", b"UID STORE"})
# A command built by hand, without its UIDs, may be answered for any UID.
_EVERY_UID: Final = UIDCover.of(UIDRange(1, None))

#: The most mailboxes one LIST or LSUB may answer with; a server listing
#: more is treated as hostile (the connection is dropped with an error).
MAX_LISTED: Final = 100_000
#: Fetch items asking for a whole message or its whole text (RFC 3501 §6.4.5).
_WHOLE_BODY = re.compile(rb"(?:BODY(?:\.PEEK)?\[(?:TEXT)?\](?:<[0-9.]+>)?|RFC822(?:\.TEXT)?)", re.I)
#: The canonical sections such items are answered with.
WHOLE_SECTIONS: Final = frozenset({b"", b"TEXT"})

#: The longest mailbox name, in bytes as sent, a LIST or STATUS may carry
#: (Dovecot's own limit; far beyond any file system's path component).
MAX_MAILBOX_NAME: Final = 4096

# Which commands can produce each kind of untagged response.
PRODUCERS: Final[dict[type[Response], frozenset[bytes]]] = {
    Capability: frozenset({b"CAPABILITY", b"LOGIN", b"AUTHENTICATE"}),
    EnabledResponse: frozenset({b"ENABLE"}),
    IDResponse: frozenset({b"ID"}),
    NamespaceResponse: frozenset({b"NAMESPACE"}),
    ListResponse: frozenset({b"LIST", b"LSUB", b"XLIST"}),
    StatusResponse: frozenset({b"STATUS", b"LIST"}),
    SearchResponse: frozenset({b"UID SEARCH"}),
    ESearchResponse: frozenset({b"UID SEARCH"}),
    FetchResponse: FETCH_ANSWERED,
    FlagsResponse: SELECTION,
    ExistsResponse: SELECTION,
    RecentResponse: SELECTION,
    ExpungeResponse: MAILBOX_CHANGES,
    # RFC 7162 §3.2.5.1, §3.2.6: VANISHED (EARLIER) answers SELECT and FETCH.
    VanishedResponse: MAILBOX_CHANGES | SELECTION | {b"UID FETCH"},
    # RFC 6851 §4.3: UID MOVE sends COPYUID in an untagged OK.
    UntaggedStatus: SELECTION | {b"UID MOVE"},
}


@record
class SelectedMailbox:
    """
    What the server said about the selected (or being selected) mailbox.

    @ivar read_only: from the tagged C{[READ-ONLY]} / C{[READ-WRITE]} code;
        C{None} until the selection completes.
    @ivar unseen: the sequence number of the first unseen message.
    """

    uid_validity: int | None = None
    uid_next: int | None = None
    exists: int | None = None
    recent: int | None = None
    flags: tuple[bytes, ...] | None = None
    permanent_flags: tuple[bytes, ...] | None = None
    highest_modseq: int | None = None
    unseen: int | None = None
    read_only: bool | None = None


def code_update(mailbox: SelectedMailbox, code: ResponseCode) -> SelectedMailbox:
    """
    @return: C{mailbox} updated from one response code.
    """
    if isinstance(code, UIDValidityCode):
        return replace(mailbox, uid_validity=code.value)
    if isinstance(code, UIDNextCode):
        return replace(mailbox, uid_next=code.value)
    if isinstance(code, HighestModSeqCode):
        return replace(mailbox, highest_modseq=code.value)
    if isinstance(code, PermanentFlagsCode):
        return replace(mailbox, permanent_flags=code.flags)
    if isinstance(code, PlainCode) and code.name in (b"READ-ONLY", b"READ-WRITE"):
        return replace(mailbox, read_only=code.name == b"READ-ONLY")
    if isinstance(code, PlainCode) and code.name == b"NOMODSEQ":
        return replace(mailbox, highest_modseq=None)
    if isinstance(code, UnseenCode):
        return replace(mailbox, unseen=code.value)
    return mailbox


def _vanished_count(response: VanishedResponse) -> int:
    """
    @return: how many UIDs a VANISHED response names (no C{*} is allowed).
    """
    total = 0
    for low, high in response.uids:
        if low is STAR or high is STAR:
            raise RemoteProtocolError("VANISHED with * in its UID set")
        total += high - low + 1
    return total


def mailbox_update(mailbox: SelectedMailbox, response: Response) -> SelectedMailbox:
    """
    @return: C{mailbox} updated from one untagged response.
    """
    if type(response) is FetchResponse:
        # The common case (a body, a listing line): nothing to update.
        return mailbox
    if isinstance(response, ExistsResponse):
        return replace(mailbox, exists=response.count)
    if isinstance(response, RecentResponse):
        return replace(mailbox, recent=response.count)
    if isinstance(response, FlagsResponse):
        return replace(mailbox, flags=response.flags)
    if isinstance(response, ExpungeResponse) and mailbox.exists:
        return replace(mailbox, exists=mailbox.exists - 1)
    if isinstance(response, VanishedResponse) and not response.earlier and mailbox.exists:
        return replace(mailbox, exists=max(0, mailbox.exists - _vanished_count(response)))
    if isinstance(response, UntaggedStatus) and response.code is not None:
        return code_update(mailbox, response.code)
    return mailbox


def fetch_cover(command: Command) -> UIDCover | None:
    """
    @return: the UIDs whose FETCH data answers C{command}, or C{None} if
        no FETCH data does.
    """
    if command.name not in FETCH_ANSWERED:
        return None
    return _EVERY_UID if command.uids is None else UIDCover.of(command.uids)


def ambiguous(one: UIDCover, other: UIDCover) -> bool:
    """
    @return: whether FETCH data could answer both commands: their sets
        share a UID, or one is open (its answer may name any UID).
    """
    return one.open or other.open or one.overlaps(other)


def retention_key(response: Response) -> Hashable | None:
    """
    How a command keeps untagged data attached to it.

    @return: C{None} to append C{response} (listings, which
        L{MAX_LISTED} bounds); else a key: a kept response with the same
        key is replaced (status data: only the latest value matters) or,
        for FETCH data keyed by UID, merged with L{merge_fetch}.
    """
    if isinstance(response, ListResponse):
        return None
    if isinstance(response, FetchResponse):
        return (FetchResponse, response.items.uid)
    if isinstance(response, UntaggedStatus):
        code = response.code
        return (UntaggedStatus, response.status, type(code), getattr(code, "name", None))
    return type(response).__name__


def check_listed(name: bytes, listed: int) -> None:
    """
    Enforce the listing limits on one LIST/LSUB/STATUS answer.

    @param name: the mailbox name it carries.
    @param listed: how many the command already keeps.
    @raise RemoteProtocolError: past L{MAX_LISTED} or L{MAX_MAILBOX_NAME}.
    """
    if len(name) > MAX_MAILBOX_NAME:
        raise RemoteProtocolError(
            f"server sent a mailbox name of {len(name)} bytes (the limit is {MAX_MAILBOX_NAME})"
        )
    if listed >= MAX_LISTED:
        raise RemoteProtocolError(f"server listed more than {MAX_LISTED} mailboxes (the limit)")


def merge_fetch(old: FetchResponse, new: FetchResponse) -> tuple[FetchResponse, list[bytes]]:
    """
    Fold a repeated FETCH response for one UID into the first.

    Scalar items (FLAGS, MODSEQ, ...) take the latest value; a body section
    already received (buffered or streamed) is kept and the repeat dropped,
    so that one requested body is never stored twice.

    @return: the merged response and the sections dropped from C{new}.
    """
    first, later = old.items, new.items
    had = set(first.sections) | set(first.streamed)
    dropped = sorted((set(later.sections) | set(later.streamed)) & had)
    sections = dict(first.sections)
    sections.update((k, v) for k, v in later.sections.items() if k not in had)
    binary = dict(later.binary)
    binary.update(first.binary)
    merged = FetchItems(
        uid=first.uid,
        flags=later.flags if later.flags is not None else first.flags,
        size=later.size if later.size is not None else first.size,
        internal_date=later.internal_date or first.internal_date,
        internal_date_raw=later.internal_date_raw or first.internal_date_raw,
        modseq=later.modseq if later.modseq is not None else first.modseq,
        sections=sections,
        origins={**later.origins, **first.origins},
        binary=binary,
        streamed=first.streamed | (later.streamed - had),
        other={**first.other, **later.other},
    )
    return FetchResponse(new.seq, merged), dropped


def wants_whole_body(command: Command) -> bool:
    """
    @return: whether a FETCH answering C{command} may carry a whole body
        (C{BODY[]}, C{BODY[TEXT]}, C{RFC822}, C{RFC822.TEXT}); C{True} when
        its items are unknown; C{False} for UID STORE.
    """
    if command.name != b"UID FETCH":
        return False
    items = command.fetch_items
    known = _WANTS_WHOLE.get(items)
    if known is None:
        known = not items or any(_WHOLE_BODY.fullmatch(item) for item in items)
        if len(_WANTS_WHOLE) < _WANTS_WHOLE_KEPT:
            _WANTS_WHOLE[items] = known
    return known


# wants_whole_body by item list: a pull asks the same few lists again and
# again (once per body FETCH response routed); bounded.
_WANTS_WHOLE: dict[tuple[bytes, ...], bool] = {}
_WANTS_WHOLE_KEPT: Final = 64


def without_sections(response: FetchResponse, sections: frozenset[bytes]) -> FetchResponse:
    """
    @return: C{response} without the body data of C{sections}.
    """
    items = response.items
    kept = {key: value for key, value in items.sections.items() if key not in sections}
    return FetchResponse(
        response.seq,
        replace(items, sections=kept, streamed=items.streamed - sections),
    )
