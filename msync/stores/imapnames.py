# -*- test-case-name: tests.stores.test_imapstore -*-
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
"""

from __future__ import annotations

from dataclasses import dataclass

from msync.errors import MailboxNameError
from msync.imap.utf7 import decode_mailbox_name
from msync.model import INBOX

# mbsync 1.4 rejects longer names from LIST (drv_imap.c).
MAX_NAME_LENGTH = 1000

# Broken servers list lock files as mailboxes; mbsync ignores them.
_LOCK_SUFFIX = ".lock"


@dataclass(frozen=True, slots=True)
class Listed:
    """
    What a listing makes of one server name.

    @ivar name: the canonical box name, or C{None} when skipped.
    @ivar warning: mbsync's warning for a skipped name, or C{None}.
    """

    name: str | None
    warning: str | None = None


def wire_argument(raw: str) -> str:
    """
    The text to give the command encoder so that it sends C{raw} unchanged.

    @param raw: a server name as mbsync 1.4 keeps it (modified UTF-7 text).
    @return: its decoded form (the encoder re-encodes it to C{raw}); a name
        that is not ASCII is returned as is and encoded by the encoder.
    @raise MailboxNameError: if C{raw} is ASCII but not valid modified
        UTF-7 (e.g. C{a&b}), so it cannot be sent as it is.
    """
    if not raw.isascii():
        return raw
    return decode_mailbox_name(raw.encode("ascii"))


def raw_name(wire: bytes) -> str:
    """
    A server name from a response as mbsync 1.4 keeps it.

    @param wire: the name's bytes (modified UTF-7 unless the server is
        broken).
    @return: the same characters as text (8-bit bytes read as UTF-8).
    """
    return wire.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
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
            return Listed(None, f"IMAP warning: ignoring overlong mailbox name {raw[:40]}...")
        name = raw
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix) :]
            # After stripping, a folder "INBOX" could not be told from the
            # real INBOX; mbsync drops it (upper case only: box names are
            # case-sensitive).
            if name[:5] == INBOX and (len(name) == 5 or name[5] == self.delimiter):
                if len(name) == 5:
                    return Listed(None, f"IMAP warning: ignoring INBOX in {self.prefix}")
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
                    None, f"IMAP warning: ignoring mailbox {raw} (reserved character '/' in name)"
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
                raise MailboxNameError(box, f"cannot use unqualified '{box}'. Did you mean INBOX?")
        if self.delimiter and self.delimiter != "/":
            if self.delimiter in box:
                raise MailboxNameError(box, "mailbox name contains server's hierarchy delimiter")
            mapped = box.replace("/", self.delimiter)
        elif not self.delimiter and "/" in box:
            raise MailboxNameError(box, "server's hierarchy delimiter not known")
        else:
            mapped = box
        return prefix + mapped
