# -*- test-case-name: tests.test_errors -*-
"""
Every exception msync raises on purpose.

Invariant: messages name the file and line, the store and mailbox, or the UID
they are about, and never contain a password or token.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def shown_name(name: str | bytes) -> str:
    """
    A mailbox or file name from a server or disk, fit to print in a message:
    what could drive a terminal or hide text is escaped, the rest is kept.

    Bytes are read as UTF-8; undecodable bytes (and the surrogate escapes
    file names carry for them) become C{\\xNN}. Control characters (C0,
    DEL, C1) become C{\\xNN} too, and invisible formatting characters
    (bidirectional overrides, zero-width characters: Unicode category Cf)
    and unassigned or private-use ones C{\\uNNNN}, so a name can neither
    send an escape sequence to the terminal nor pass for another name.

    @param name: the name as C{str} (possibly with surrogate escapes) or as
        raw C{bytes}.
    @return: printable text; never a Python C{bytes} repr.
    """
    if isinstance(name, bytes):
        name = name.decode("utf-8", "surrogateescape")
    if name.isprintable() and name.isascii():
        return name
    parts = []
    for char in name:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            parts.append(f"\\x{code:02x}")
        elif unicodedata.category(char) in ("Cf", "Cn", "Co", "Cs", "Zl", "Zp"):
            parts.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            parts.append(char)
    return "".join(parts)


class MsyncError(Exception):
    """
    Base of every msync error.

    @cvar label: what the CLI puts before the text of an error that skips a
        box or a channel (mbsync's C{"Error: "}, or nothing).
    """

    label = "Error: "


class UsageError(MsyncError):
    """
    The command line is wrong (unknown option, missing argument, ...).
    """


class ConfigError(MsyncError):
    """
    The configuration file is malformed or inconsistent.

    One instance may carry several problems (mbsync reports every error in
    a file before giving up): L{errors} holds them in file order, and the
    first one's location and reason are this error's own.

    @ivar filename: the configuration file's name as the user gave it.
    @ivar line: the 1-based line number, or C{None} for file-level problems.
        A problem mbsync finds at the end of a section carries the
        section's first line here but is I{unlocated}: mbsync prints it
        without a location, and so does C{str()}.
    @ivar reason: what was wrong, without the location.
    @ivar located: whether the printed text starts with C{file:line: }.
    @ivar errors: every problem, in the order mbsync prints them; C{(self,)}
        for a single one.
    """

    def __init__(
        self, filename: str, line: int | None, reason: str, *, located: bool = True
    ) -> None:
        self.filename = filename
        self.line = line
        self.reason = reason
        self.located = located
        self.errors: tuple[ConfigError, ...] = (self,)
        if not located:
            text = reason
        else:
            text = f"{filename}: {reason}" if line is None else f"{filename}:{line}: {reason}"
        super().__init__(text)

    @classmethod
    def collect(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """
        Combine several problems into one exception to raise.

        @param errors: at least one problem, in order; each a single one.
        @return: the only problem itself, or a new error whose location and
            reason are the first's, whose L{errors} are all of them and whose
            text is theirs, one per line.
        """
        if len(errors) == 1:
            return errors[0]
        first = errors[0]
        combined = cls(first.filename, first.line, first.reason, located=first.located)
        combined.errors = tuple(errors)
        combined.args = ("\n".join(str(error) for error in errors),)
        return combined


class LocalProtocolError(MsyncError):
    """
    msync misused the IMAP protocol (a bug, or an impossible request).
    """


class RemoteProtocolError(MsyncError):
    """
    The IMAP server sent something that violates the protocol; the
    connection is dead afterwards.
    """


class CommandFailed(MsyncError):
    """
    An IMAP command completed with a tagged NO or BAD.

    @ivar status: C{b"NO"} or C{b"BAD"}.
    @ivar code: the response code atom (e.g. C{b"TRYCREATE"}), or C{None}.
    @ivar text: the human-readable text of the response.
    """

    def __init__(self, command: str, status: bytes, code: bytes | None, text: str) -> None:
        self.command = command
        self.status = status
        self.code = code
        self.text = text
        code_text = f"[{code.decode('ascii', 'replace')}] " if code else ""
        super().__init__(
            f"IMAP command {command} failed: {status.decode('ascii', 'replace')} {code_text}{text}"
        )


class AuthenticationError(MsyncError):
    """
    Login was refused, or no acceptable authentication mechanism exists.
    """


class TLSError(MsyncError):
    """
    TLS could not be established or the peer's certificate was refused.
    """


class ConnectionTimeout(MsyncError):
    """
    A network wait exceeded the configured C{Timeout}.
    """


class StoreError(MsyncError):
    """
    A store operation failed. Subclasses say how much has to be skipped.
    """


class MessageError(StoreError):
    """
    Skip this message; the mailbox pair goes on.
    """


class MailboxError(StoreError):
    """
    Skip this mailbox pair; the channel goes on with the other boxes.
    """


class UnreadExcess(MailboxError):
    """
    MaxMessages would expire unread messages and C{ExpireUnread} is unset:
    the box pair is skipped. mbsync words this one without C{"Error: "}.
    """

    label = ""


class LayoutError(MailboxError):
    """
    A Maildir box name the store's C{SubFolders} style cannot map: mbsync
    says C{Maildir error: ...} (its whole text, no C{"Error: "}) and, the
    store being "bad", gives up the rest of the channel; later channels
    still use the store. Below C{INBOX} it is mbsync's "box bad": only
    that box is skipped.

    @ivar ends_channel: the channel's remaining boxes are skipped.
    """

    label = ""

    def __init__(self, text: str, ends_channel: bool = True) -> None:
        super().__init__(text)
        self.ends_channel = ends_channel


class StoreUnavailable(StoreError):
    """
    Skip every channel using this store (connection or login failed).

    @ivar store: the name of the store section that failed, when known.
    @ivar temporary: the failure was a network one (connect, name lookup,
        timeout, lost connection): mbsync's "temporarily failed" store.
    """

    def __init__(self, message: str, *, store: str | None = None, temporary: bool = False) -> None:
        super().__init__(message)
        self.store = store
        self.temporary = temporary


class StateError(MsyncError):
    """
    A sync state file, journal or lock is unusable.
    """


class ChannelLocked(StateError):
    """
    Another msync or mbsync holds the channel's state lock.
    """


class MailboxMissing(MailboxError):
    """
    A mailbox does not exist in a store; the engine may apply C{Create}
    (mbsync C{box_confirmed2}) or report C{cannot be opened}.

    @ivar store: the store's configured name.
    @ivar box: the canonical mailbox name.
    """

    def __init__(self, store: str, box: str) -> None:
        self.store = store
        self.box = box
        super().__init__(f"store {store}: mailbox {shown_name(box)} does not exist")


class MailboxNameError(MsyncError):
    """
    A mailbox name cannot be converted between C{str} and IMAP's modified
    UTF-7 (RFC 3501 §5.1.3): invalid or non-canonical encoding from the
    server, or a name with unencodable characters (lone surrogates).

    @ivar name: the offending name, as C{bytes} or C{str}.
    @ivar reason: why it cannot be used.

    The message shows the name with L{shown_name}, never as a Python repr.
    """

    def __init__(self, name: bytes | str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"mailbox name {shown_name(name)}: {reason}")
