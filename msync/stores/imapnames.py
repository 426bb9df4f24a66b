# -*- test-case-name: tests.stores.test_imapnames,tests.stores.test_imapstore -*-
"""
Mailbox names between an IMAP server and msync's canonical box names, as
mbsync 1.4 maps them (C{drv_imap.c}: C{parse_list_rsp_p2}, C{prepare_box},
C{imap_list_store}).

Invariants:
  - Pure: stdlib and L0/L1 only.
  - Like mbsync 1.4, names are kept in the server's modified UTF-7 as raw
    text (C{Entw&APw-rfe}), so that Maildir folders get mbsync's names;
    L{wire_argument} turns a raw name into the text the command encoder
    expects, so that the bytes on the wire are the raw name again.
  - A canonical name uses C{/} as hierarchy delimiter and spells the inbox
    C{INBOX}; the server prefix (C{Path} or the first personal NAMESPACE)
    is stripped from listed names and added to names sent, except for
    INBOX and its children, which bypass the prefix.
  - L{ServerNaming.box_name} decides what a listing shows; skipping is a
    result (C{None} plus an optional warning), never an exception.
  - Under mbsync 1.4 naming only canonical modified UTF-7 names (ASCII,
    C{&} written C{&-}) can be sent: a name such as C{Café}, C{Ärger} or
    C{Q&A} is refused with a readable error naming mbsync's spelling
    (C{Caf&AOk-}, C{&AMQ-rger}, C{Q&-A}), never sent encoded. Sending it
    encoded would make the next listing show the server's spelling as a
    second box, paired with a second local folder (issue 8).
  - The mapping is pluggable: L{NameMapping} is what the rest of msync
    uses: L{MBSYNC14_NAMES}, or L{MBSYNC15_NAMES} (mbsync 1.5: names are
    decoded to Unicode, so Maildir folders are C{Entwürfe}; any name can
    be sent, encoded; an invalid modified UTF-7 name from the server is
    skipped with 1.5's error). L{names_for} picks one per generation.
    L{MBSYNC15_UTF8_NAMES} replaces the 1.5 mapping on a connection where
    the server confirmed C{ENABLE UTF8=ACCEPT}: names are UTF-8 on the
    wire both ways (RFC 6855).
"""

from __future__ import annotations

from typing import Protocol

from msync.compat import Generation
from msync.errors import MailboxNameError, shown_name
from msync.imap.utf7 import decode_mailbox_name, encode_mailbox_name
from msync.imap.values import _value
from msync.model import INBOX

# mbsync 1.4 rejects longer names from LIST (drv_imap.c).
MAX_NAME_LENGTH = 1000

# Broken servers list lock files as mailboxes; mbsync ignores them.
_LOCK_SUFFIX = ".lock"


@_value
class Listed:
    """
    What a listing makes of one server name.

    @ivar name: the canonical box name, or C{None} when skipped.
    @ivar warning: mbsync's warning for a skipped name, or C{None}.
    """

    name: str | None
    warning: str | None = None


def server_spelling(name: str) -> str:
    """
    How a name is spelled on an IMAP server in modified UTF-7, as text: the
    name itself when it is canonical modified UTF-7 already (mbsync 1.4's
    raw names, e.g. C{Caf&AOk-}), else its encoding (C{Café} and C{Q&A}
    are spelled C{Caf&AOk-} and C{Q&-A}). Two names with one spelling
    would address one server box.

    @param name: a box or server name.
    @return: its spelling on the server; C{name} itself if it cannot be
        encoded at all (lone surrogates).
    """
    if name.isascii():
        try:
            decode_mailbox_name(name.encode("ascii"))
        except MailboxNameError:
            pass
        else:
            return name
    try:
        return encode_mailbox_name(name).decode("ascii")
    except MailboxNameError:
        return name


def wire_argument(raw: str) -> str:
    """
    The text to give the command encoder so that it sends C{raw} unchanged.

    @param raw: a server name as mbsync 1.4 keeps it (modified UTF-7 text).
    @return: its decoded form (the encoder re-encodes it to C{raw}).
    @raise MailboxNameError: if C{raw} is not canonical modified UTF-7
        (C{Q&A}, C{Ärger}): mbsync 1.4 sends such names unchanged, and
        servers refuse them or take them as another box than the one their
        listing later shows. The message gives mbsync's spelling.
    """
    if raw.isascii():
        try:
            return decode_mailbox_name(raw.encode("ascii"))
        except MailboxNameError:
            pass
    spelling = server_spelling(raw)
    advice = "" if spelling == raw else f"; spelled so, it is {shown_name(spelling)}"
    raise MailboxNameError(
        raw,
        "not valid modified UTF-7 (RFC 3501 \N{SECTION SIGN}5.1.3), which mbsync 1.4 "
        f"naming requires{advice}",
    )


def raw_name(wire: bytes) -> str:
    """
    A server name from a response as mbsync 1.4 keeps it.

    @param wire: the name's bytes (modified UTF-7 unless the server is
        broken).
    @return: the same characters as text (8-bit bytes read as UTF-8).
    """
    return wire.decode("utf-8", "replace")


class NameMapping(Protocol):
    """
    How box names map to IMAP server names and back (pluggable: mbsync 1.4
    keeps modified UTF-7 as is, mbsync 1.5 decodes it).

    """

    @property
    def isync15(self) -> bool:
        """
        Whether this is mbsync 1.5's mapping (the store then also behaves
        as 1.5 where the protocol differs: C{UTF8=ACCEPT}, C{-V} lines).
        """

    def to_server(self, raw: str) -> str:
        """
        See L{wire_argument}.
        """

    def from_server(self, wire: bytes) -> str:
        """
        See L{raw_name}.
        """

    def spelling(self, name: str) -> str:
        """
        See L{server_spelling}: names with one spelling are one server box.
        """


@_value
class Mbsync14Names:
    """
    mbsync 1.4's mapping: names are the server's modified UTF-7, as text.
    """

    isync15: bool = False

    def to_server(self, raw: str) -> str:
        """
        See L{wire_argument}.
        """
        return wire_argument(raw)

    def from_server(self, wire: bytes) -> str:
        """
        See L{raw_name}.
        """
        return raw_name(wire)

    def spelling(self, name: str) -> str:
        """
        See L{server_spelling}.
        """
        return server_spelling(name)


MBSYNC14_NAMES: NameMapping = Mbsync14Names()
"""
mbsync 1.4's mapping (the default where no generation is given).
"""


@_value
class Mbsync15Names:
    """
    mbsync 1.5's mapping (without C{UTF8=ACCEPT}): box names are the
    decoded Unicode names; the command encoder spells them in modified
    UTF-7 on the wire.
    """

    isync15: bool = True

    def to_server(self, raw: str) -> str:
        """
        The text for the command encoder: the name itself.

        @raise MailboxNameError: it cannot be encoded (lone surrogates,
            as from an undecodable folder name on disk): 1.5's
            C{invalid UTF-8 string}.
        """
        try:
            encode_mailbox_name(raw)
        except MailboxNameError:
            raise MailboxNameError(raw, "invalid UTF-8 string") from None
        return raw

    def from_server(self, wire: bytes) -> str:
        """
        Decode a listed name.

        @raise MailboxNameError: not valid modified UTF-7 (mbsync 1.5 says
            C{IMAP error: invalid modified-UTF-7 string}).
        """
        try:
            return decode_mailbox_name(wire)
        except MailboxNameError:
            raise MailboxNameError(raw_name(wire), "invalid modified-UTF-7 string") from None

    def spelling(self, name: str) -> str:
        """
        The encoded name: the encoding is one-to-one, so decoded names
        never alias each other.
        """
        try:
            return encode_mailbox_name(name).decode("ascii")
        except MailboxNameError:
            return name


MBSYNC15_NAMES: NameMapping = Mbsync15Names()
"""
mbsync 1.5's mapping.
"""


@_value
class Mbsync15Utf8Names:
    """
    mbsync 1.5's mapping once the server confirmed C{ENABLE UTF8=ACCEPT}
    (RFC 6855): box names are the server's names, in UTF-8 on the wire
    both ways (the command encoder quotes them as UTF-8 strings).
    """

    isync15: bool = True

    def to_server(self, raw: str) -> str:
        """
        The name itself.

        @raise MailboxNameError: it holds lone surrogates (an undecodable
            folder name on disk): 1.5's C{invalid UTF-8 string}.
        """
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise MailboxNameError(raw, "invalid UTF-8 string") from None
        return raw

    def from_server(self, wire: bytes) -> str:
        """
        Decode a listed name as UTF-8.

        @raise MailboxNameError: not valid UTF-8.
        """
        try:
            return wire.decode("utf-8")
        except UnicodeDecodeError:
            raise MailboxNameError(raw_name(wire), "invalid UTF-8 string") from None

    def spelling(self, name: str) -> str:
        """
        The name: UTF-8 is one-to-one, no two names alias each other.
        """
        return name


MBSYNC15_UTF8_NAMES: NameMapping = Mbsync15Utf8Names()
"""
mbsync 1.5's mapping with C{UTF8=ACCEPT} enabled.
"""


def names_for(generation: Generation) -> NameMapping:
    """
    The name mapping of an mbsync generation.
    """
    return MBSYNC14_NAMES if generation is Generation.V14 else MBSYNC15_NAMES


@_value
class ServerNaming:
    """
    How one IMAP store names its boxes on the server.

    @ivar prefix: the server prefix (C{Path}, or the first personal
        NAMESPACE prefix), raw; C{""} for none.
    @ivar delimiter: the server's hierarchy delimiter, C{""} while unknown.
    """

    prefix: str = ""
    delimiter: str = ""

    def _is_inbox(self, name: str) -> bool:
        """
        mbsync C{is_inbox}: C{INBOX} in any case, alone or followed by the
        delimiter.
        """
        if name[:5].upper() != INBOX:
            return False
        return len(name) == 5 or (bool(self.delimiter) and name[5] == self.delimiter)

    @property
    def prefix_is_inbox(self) -> bool:
        """
        Whether the prefix lies under INBOX (C{INBOX.}, Courier and Cyrus).
        """
        return bool(self.prefix) and self._is_inbox(self.prefix)

    def list_patterns(self) -> tuple[str, ...]:
        """
        The LIST/LSUB patterns (reference C{""}) reaching the prefix's
        hierarchy and INBOX, as mbsync 1.4 asks for both.

        @return: raw patterns, e.g. C{("*",)}, C{("INBOX*",)} or
            C{("Mail/*", "INBOX*")}.
        """
        if not self.prefix:
            return ("*",)
        if self.prefix_is_inbox:
            return ("INBOX*",)
        return (self.prefix + "*", "INBOX*")

    def box_name(self, raw: str) -> Listed:
        """
        Map a listed (selectable) server name to its canonical name.

        @param raw: the name as listed, raw.
        @return: the canonical name, or C{None} (with mbsync's warning where
            it gives one) for names outside the prefix, C{INBOX} inside the
            prefix, lock files, names containing C{/} when that is not the
            delimiter, overlong and empty names.
        """
        if len(raw) > MAX_NAME_LENGTH:
            return Listed(
                None, f"IMAP warning: ignoring overlong mailbox name {shown_name(raw[:40])}..."
            )
        name = raw
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix) :]
            # After stripping, a folder "INBOX" could not be told from the
            # real INBOX; mbsync drops it (upper case only: box names are
            # case-sensitive).
            if name[:5] == INBOX and (len(name) == 5 or name[5] == self.delimiter):
                if len(name) == 5:
                    return Listed(
                        None, f"IMAP warning: ignoring INBOX in {shown_name(self.prefix)}"
                    )
                return Listed(None)
        elif self._is_inbox(name):
            # INBOX and its children bypass the namespace; normalise the
            # spelling of servers with a lower-case INBOX.
            name = INBOX + name[5:]
        elif self.prefix:
            return Listed(None)
        if name.endswith(_LOCK_SUFFIX):
            return Listed(None)
        if self.delimiter and self.delimiter != "/":
            if "/" in name:
                return Listed(
                    None,
                    f"IMAP warning: ignoring mailbox {shown_name(raw)} "
                    "(reserved character '/' in name)",
                )
            name = name.replace(self.delimiter, "/")
        if not name:
            return Listed(None)
        return Listed(name)

    def server_name(self, box: str) -> str:
        """
        The raw server name of a canonical box (mbsync C{prepare_box}).

        @param box: the canonical name.
        @return: the server name, prefix and delimiter applied; INBOX and
            its children without the prefix.
        @raise MailboxNameError: with mbsync's reason when the name cannot
            be expressed: an unqualified spelling of INBOX other than
            C{INBOX}, the server's delimiter inside a component, or a
            hierarchical name while the delimiter is unknown.
        """
        prefix = self.prefix
        if box[:5].upper() == INBOX and (len(box) == 5 or box[5] == "/"):
            if box[:5] == INBOX:
                prefix = ""
            elif not prefix:
                raise MailboxNameError(
                    box, f"cannot use unqualified '{shown_name(box)}'. Did you mean INBOX?"
                )
        if self.delimiter and self.delimiter != "/":
            if self.delimiter in box:
                raise MailboxNameError(box, "mailbox name contains server's hierarchy delimiter")
            mapped = box.replace("/", self.delimiter)
        elif not self.delimiter and "/" in box:
            raise MailboxNameError(box, "server's hierarchy delimiter not known")
        else:
            mapped = box
        return prefix + mapped
