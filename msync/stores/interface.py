# -*- test-case-name: tests.stores.test_memorystore -*-
# zope.interface method declarations take no self argument:
# ruff: noqa: N805
"""
The contract between the synchronizer and every mail store (IMAP, Maildir,
memory): L{IStore} for a store (one connection or one Maildir root),
L{IMailbox} for one open mailbox, L{IMessageSource} / L{IMessageBody} for
message contents streamed in chunks.

Invariants every implementation guarantees:
  - Every method returning a C{Deferred} fires it exactly once, with the
    documented result or with a L{msync.errors.StoreError} whose subclass
    says how much to skip: L{MessageError} (this message),
    L{MailboxError} (this box pair; L{MailboxMissing} when a box does not
    exist), L{StoreUnavailable} (every channel using this store; the store
    is unusable afterwards). Calling a method in a state the contract
    forbids (after C{close}, a second open mailbox) is a caller bug and
    may raise C{RuntimeError} synchronously.
  - Operations may be started before earlier ones have finished (the IMAP
    store pipelines them); their effects are those of executing them in
    call order.
  - UIDs are positive; a UID is never reused within one UIDVALIDITY; every
    message stored gets a UID greater than every UID the box held before.
  - Messages are kept byte for byte, in the store's L{IStore.line_ending};
    flags outside L{IMailbox.permanent_flags} are silently dropped.
  - Bodies are streamed: no operation needs memory proportional to the size
    of a mailbox, and the engine never needs a whole message in memory.

L{BytesSource} is a ready-made L{IMessageSource} over bytes (placeholders,
tests).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from itertools import compress

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface, implementer

from msync.model import BoxName, FlagChange, Flags, LoadRequest, MessageListing

DEFAULT_CHUNK_SIZE = 64 * 1024
"""
The chunk size stores use when they have no better one.
"""


def held_chunks(source: IMessageSource) -> list[bytes] | None:
    """
    The whole of C{source} as chunks already in memory, when it offers
    them: a source may have a C{held()} method answering the list of its
    chunks (a fetched body still in memory, a converted message kept) or
    C{None}. A copy then needs no pass over an asynchronous iterator. The
    list is the source's own: read it, never change it.

    @return: the chunks (their lengths sum to C{source.size}), or C{None}
        when the source must be read through C{chunks()}.
    """
    held = getattr(source, "held", None)
    if held is None:
        return None
    chunks: list[bytes] | None = held()
    return chunks


class IMessageSource(Interface):
    """
    The contents of one message, readable any number of times as a stream
    of byte chunks.
    """

    size = Attribute(
        """
        The exact number of bytes every pass of L{chunks} yields (IMAP APPEND
        needs it before the first byte, RFC 3501 §6.3.11).
        """
    )

    def chunks() -> AsyncIterator[bytes]:
        """
        Start a new pass over the whole message, from its first byte.

        Each call is independent: the engine may read once to measure a
        converted size and again to send. Chunks are non-empty and bounded
        (typically L{DEFAULT_CHUNK_SIZE}); their boundaries are arbitrary
        (a CRLF or a header line may be split between two). Iteration
        raises a L{StoreError} if the contents cannot be read.

        @return: an asynchronous iterator of chunks whose lengths sum to
            L{size}.
        """


class IMessageBody(IMessageSource):
    """
    A message fetched from a mailbox: its contents, plus what the fetch
    reports about it (IMAP C{UID FETCH n (FLAGS INTERNALDATE BODY.PEEK[])}).
    """

    uid = Attribute("The message's UID (an L{int}).")
    flags = Attribute("Its L{Flags} when fetched.")
    arrival_date = Attribute(
        "When it arrived (IMAP INTERNALDATE, Maildir mtime): a timezone-aware L{datetime}."
    )


@implementer(IMessageSource)
class BytesSource:
    """
    An L{IMessageSource} over bytes held in memory, yielded in chunks of at
    most C{chunk_size} bytes.

    @ivar data: the message.
    @ivar size: C{len(data)}.
    """

    def __init__(self, data: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        """
        @param data: the message, in the target store's line ending.
        @param chunk_size: the largest chunk to yield.
        @raise ValueError: if C{chunk_size} is not positive.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk size must be positive, not {chunk_size}")
        self.data = data
        self.size = len(data)
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"<BytesSource of {self.size} bytes>"

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Yield C{data} in slices of at most C{chunk_size} bytes.
        """
        view = memoryview(self.data)
        for start in range(0, self.size, self._chunk_size):
            yield bytes(view[start : start + self._chunk_size])


class IStore(Interface):
    """
    A mail store as one channel side sees it: one IMAP connection (with its
    account and namespace) or one Maildir root. At most one mailbox is open
    at a time (IMAP selects one mailbox per connection).
    """

    name = Attribute("The store's configured name (a L{str}), for messages.")
    line_ending = Attribute(
        """
        The L{LineEnding} of the messages this store keeps: C{CRLF} for
        IMAP, C{LF} for Maildir. L{IMailbox.store} and L{append} must be
        given messages in it; L{IMailbox.fetch} returns messages in it.
        """
    )

    def list_boxes() -> Deferred[list[BoxName]]:
        """
        List the mailboxes that can be opened (IMAP C{LIST} without
        C{\\NoSelect}; Maildir folders with C{cur/}).

        @return: canonical names (C{/}-separated, inbox as C{"INBOX"}),
            each once, in no particular order.
        """

    def open_box(
        name: BoxName, create: bool = False, read_only: bool = False
    ) -> Deferred[IMailbox]:
        """
        Open a mailbox for synchronization (IMAP C{SELECT}; Maildir
        validation and C{.uidvalidity} lock). No mailbox may be open on
        this store already.

        Read-only (C{--dry-run}) the open changes nothing anywhere, now or
        later (IMAP C{EXAMINE}, so C{\\Recent} stays; Maildir takes no lock
        and writes, renames, creates and removes nothing), yet the mailbox
        reports what a read-write open would: the same messages, flags,
        UIDVALIDITY and permanent flags. Where a read-write open would
        assign UIDs (Maildir files without C{,U=}, a missing
        C{.uidvalidity}), the box gives I{provisional} UIDs, those a
        read-write open would give now (above the recorded last UID),
        stable while it stays open; C{uid_next} counts them. L{IMailbox.load},
        L{IMailbox.fetch} and L{IMailbox.find_by_tuid} work as usual;
        L{IMailbox.store}, L{IMailbox.set_flags}, L{IMailbox.trash} and
        L{IMailbox.expunge} raise C{RuntimeError} at once, sending and
        changing nothing.

        @param create: create the mailbox first if it does not exist.
        @param read_only: open it read-only, as above.
        @return: the open mailbox; it fails with L{MailboxMissing} if the
            box does not exist and C{create} is false.
        @raise ValueError: if both C{create} and C{read_only} are true.
        """

    def create_box(name: BoxName) -> Deferred[None]:
        """
        Create a mailbox; creating one that exists is not an error.
        """

    def delete_box(name: BoxName) -> Deferred[None]:
        """
        Delete a mailbox that is not open, together with whatever it holds.

        The engine checks first that the box is empty, ignoring messages
        flagged L{Flags.DELETED} (mbsync C{confirm_box_empty}). Fails with
        L{MailboxMissing} if it does not exist, L{MailboxError} if it
        cannot be deleted (e.g. the inbox).
        """

    def append(
        name: BoxName,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[None]:
        """
        Store a message into a mailbox that need not be open, creating the
        mailbox if it is missing (IMAP C{APPEND} + C{[TRYCREATE]}). This
        is for C{TrashRemoteNew}: copies into Trash are never tracked.

        Atomic like L{IMailbox.store}.
        """

    def close() -> Deferred[None]:
        """
        Close the open mailbox, if any, and release the store (IMAP
        C{LOGOUT}). Nothing is expunged. Never fails: a store whose
        connection is lost just lets it go. No other method may be called
        afterwards.
        """


class IMailbox(Interface):
    """
    One mailbox opened by L{IStore.open_box}.

    Methods address messages by UID only. A UID that no longer exists
    (expunged meanwhile, possibly by another client) is ignored by
    L{set_flags}, L{trash} and L{expunge} and makes L{fetch} fail with
    L{MessageError}.
    """

    name = Attribute("The mailbox's canonical name (a L{BoxName}).")
    uid_validity = Attribute(
        """
        The mailbox's UIDVALIDITY (an L{int}), fixed while it is open.
        UIDs are meaningful only together with it.
        """
    )
    uid_next = Attribute(
        """
        The UIDNEXT (an L{int}) known when the box was opened: greater than
        every UID then in the box. Messages stored later get UIDs at least
        this large, so the engine journals it (C{F side uidnext}) before
        copying and later passes it to L{find_by_tuid}. Not refreshed while
        the box is open.
        """
    )
    permanent_flags = Attribute(
        """
        The L{Flags} this mailbox can keep (IMAP C{PERMANENTFLAGS}: C{P}
        only with C{$Forwarded} or C{\\*}; Maildir: all). Others are
        dropped silently; the engine gives mbsync's notice and does not
        propagate them.
        """
    )

    def load(request: LoadRequest) -> Deferred[MessageListing]:
        """
        Report the messages the request selects, with the extras it asks for
        (mbsync C{load_box}; IMAP C{UID FETCH}es, Maildir scan).

        @return: the selected messages present now, as columns (a
            L{MessageListing}: a L{MessageInfo} per message is made only
            when the caller asks for one), in strictly increasing UID
            order; extras not requested are C{None}. An unbounded range (C{max_uid=None}) includes messages
            stored since the box was opened. Messages above C{max_uid} are
            never reported, even where IMAP C{n:*} would match them.
        """

    def fetch(uid: int) -> Deferred[IMessageBody]:
        """
        Read a message (IMAP C{BODY.PEEK[]}: flags are not changed).

        The result may stream from the store; its C{chunks} can be read any
        number of times (an IMAP store spools the literal to disk past a
        small size). Fails with L{MessageError} if the message does not
        exist.
        """

    def store(
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[int | None]:
        """
        Add a message to this mailbox (IMAP C{APPEND}; Maildir C{tmp/},
        fsync, rename).

        Atomic: when the result fails the message is not in the box (or,
        after a connection loss, its fate is unknown: the engine finds it
        by its C{X-TUID}). The message is stored exactly as read from
        C{message}, which must be in the store's line ending and carry the
        C{X-TUID} header the engine inserted. If reading C{message} fails,
        that error propagates and nothing is stored. A store that refuses
        the message fails with L{MessageError}.

        @param flags: the flags to give it (those not permanent dropped).
        @param arrival_date: its arrival date (C{CopyArrivalDate}); C{None}
            lets the store use the current time.
        @return: the new UID (greater than every UID the box had), or
            C{None} when the store cannot tell (IMAP without UIDPLUS); then
            use L{find_by_tuid}.
        """

    def find_by_tuid(tuids: Collection[str], min_uid: int) -> Deferred[dict[str, int]]:
        """
        Find messages stored since C{min_uid} by their C{X-TUID} headers
        (mbsync C{find_new_msgs}: fresh UIDNEXT, then C{UID FETCH
        min_uid:next-1 (BODY.PEEK[HEADER.FIELDS (X-TUID)])}).

        @param tuids: the TUIDs to look for.
        @param min_uid: the lowest UID to examine (the journaled UIDNEXT).
        @return: each TUID found mapped to the lowest UID carrying it;
            TUIDs not found are absent.
        """

    def set_flags(changes: Sequence[FlagChange]) -> Deferred[None]:
        """
        Apply flag changes, in order, each to its message (IMAP groups equal
        changes into one C{UID STORE set +FLAGS.SILENT}; Maildir renames,
        moving the file to C{cur/}).

        Fires when every change is applied. On failure some changes may
        have been applied; the next load shows which.
        """

    def trash(uids: Collection[int], trash_box: BoxName) -> Deferred[list[int]]:
        """
        Copy messages into the Trash mailbox of this store, creating it if
        missing (IMAP C{UID MOVE}, else C{UID COPY}, C{[TRYCREATE]} →
        C{CREATE} and retry; Maildir rename).

        Afterwards each trashed message is either gone from this box (move)
        or still here, still flagged as before (copy); a following
        L{expunge} removes it in both cases. The Trash copy keeps the
        contents and flags. C{trash_box} may be this very mailbox (the
        Trash synchronized too): as in mbsync 1.4.4, each message then
        becomes a new message of this box (a new UID, same contents).

        @return: the UIDs trashed, in increasing order (C{uids} without
            those that no longer exist).
        """

    def expunge(uids: Collection[int] | None = None) -> Deferred[list[int]]:
        """
        Remove messages flagged L{Flags.DELETED} (IMAP C{UID EXPUNGE}, or
        C{CLOSE}-style expunge without UIDPLUS; Maildir unlink).

        @param uids: the messages to remove; a store may also remove other
            deleted messages (IMAP without UIDPLUS expunges them all).
            C{None}: every deleted message. Messages not flagged deleted
            are never removed.
        @return: the UIDs this call removed, in increasing order (at least
            those of C{uids} it removed).
        """

    def close() -> Deferred[None]:
        """
        Close the mailbox without expunging anything (IMAP C{UNSELECT};
        Maildir releases the C{.uidvalidity} lock). Even if this fails, no
        other method may be called afterwards and the store may open
        another mailbox.
        """


class IListingCache(Interface):
    """
    Optional for an L{IMailbox}: it can keep its listing in a file of the
    caller's between runs and then load only what changed (IMAP
    CONDSTORE). A load answers exactly as without the file.
    """

    def use_listing_cache(path: str) -> None:
        """
        Keep the listing in C{path} (read by the next L{IMailbox.load};
        removed when it cannot be trusted); call before the first load.
        """

    def save_listing() -> None:
        """
        Write the listing the last load brought up to date to the path, if
        it is worth writing; the caller's sync has committed. Never fails:
        a listing not written only means asking for more next time.
        """


class IBoxFingerprints(Interface):
    """
    Optional for an L{IStore}: it can tell cheaply whether a box changed
    since a sync, without opening or loading it. A fingerprint is opaque
    bytes; two fingerprints of one box equal up to their first C{;} mean
    that a load would give the same answer both times (what follows is a
    hint for the store's next look). A store that cannot be sure says
    C{None}.
    """

    def box_fingerprint(name: BoxName, known: bytes | None = None) -> Deferred[bytes | None]:
        """
        The fingerprint of box C{name} as it is now (IMAP: one C{STATUS};
        Maildir: the names in C{new/} and C{cur/}, no C{stat} per file, or
        just the directories' modification times when C{known} carries
        ones old enough to trust).

        @param known: the fingerprint recorded for the box last time, if
            any; returned as it is when the store can tell from its hint
            that nothing changed.

        @return: a Deferred firing with the fingerprint, or C{None} when it
            cannot be known (no mod-sequences, a missing box, messages
            another session has not seen yet).
        """

    def prefetch_fingerprints(names: Sequence[BoxName]) -> None:
        """
        Start finding the fingerprints of C{names} at once (IMAP: all the
        C{STATUS} commands pipelined); each is then answered by the next
        L{box_fingerprint} of that name. Failures only make those answers
        C{None}.
        """


class IFingerprinted(Interface):
    """
    Optional for an L{IMailbox}: the fingerprint its store's
    L{IBoxFingerprints.box_fingerprint} would give now, as this box knows
    it after its load and its own changes.
    """

    def fingerprint() -> bytes | None:
        """
        @return: the fingerprint as of this session's last load plus the
            changes it made itself, or C{None} when that is not known for
            sure (not loaded, read-only, changed on a server whose answer
            to those changes is not tracked).
        """


class IUnlistedOpen(Interface):
    """
    Optional for an L{IStore}: it can open a box without listing it, for a
    sync that knows the box is as the last sync left it and needs only a
    few of its messages (L{msync.sync.engine}'s partial run).
    """

    def open_box_unlisted(name: BoxName) -> Deferred[IMailbox]:
        """
        Open the existing box C{name} for writing, as L{IStore.open_box}
        does, but without listing its messages: a load that names its UIDs
        one by one (an empty range) then reads only those; any other load
        lists the box whole first, so every answer is as after a plain
        open.
        """


class ListingChanges:
    """
    What changed in a box since the listing it keeps between runs
    (L{IListingChanges}), and what it holds now: enough to tell, for any
    UID a sync recorded after that listing was saved, whether its message
    may have changed since.

    @ivar changed: UIDs whose flags changed since the saved listing, and
        new UIDs.
    @ivar listed: every UID the box holds now, ascending.
    """

    def __init__(self, changed: frozenset[int], listed: Sequence[int]) -> None:
        self.changed = changed
        self.listed = listed

    def touched(self, uids: Sequence[int]) -> list[int]:
        """
        The positions in C{uids} of the nonzero UIDs whose messages changed
        or are gone (expunged, whenever that was).
        """
        listed = self.listed
        if uids and uids[-1] and listed[: len(uids)] == uids:
            # The usual case: the records' UIDs ascend, none is zero, and
            # the box holds each of them, with new ones after (compared in
            # C, as arrays). Then only the changed UIDs are touched, each
            # found by bisection: no set of every UID.
            touched = []
            for uid in sorted(self.changed):
                at = bisect_left(uids, uid)
                if at == len(uids):
                    break
                if uids[at] == uid:
                    touched.append(at)
            return touched
        # In bulk (set operations and C iterators, no Python loop per UID):
        # the UIDs wanted, then the positions holding one.
        wanted = set(uids)
        wanted.difference_update(self.listed)
        wanted.update(self.changed)
        wanted.discard(0)
        return list(compress(range(len(uids)), map(wanted.__contains__, uids)))


class IListingChanges(Interface):
    """
    Optional for an L{IMailbox} that keeps its listing between runs
    (L{IListingCache}): it can say which messages changed since that
    listing before the load (IMAP CONDSTORE with QRESYNC's C{VANISHED}).
    """

    def changes_since_listing() -> Deferred[ListingChanges | None]:
        """
        Bring the listing up to date (the next L{IMailbox.load} answers
        from it without asking again) and say what changed.

        @return: a Deferred firing with the changes, or C{None} when they
            are not known (no listing kept, a whole fetch, no CONDSTORE).
        """
