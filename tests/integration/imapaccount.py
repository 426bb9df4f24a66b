# -*- test-case-name: tests.integration.test_dovecot -*-
"""
Blocking IMAP helpers for the private Dovecot of L{tests.integration.dovecot}.

L{DovecotAccount} inspects and changes one user's mail behind the back of the
code under test, over one lazily opened connection of its own (plain port,
LOGIN). It is deliberately independent of msync's IMAP client: a bug there
must not hide in the fixture that checks it.

Invariants: mailbox names are text here and modified UTF-7 on the wire
(RFC 3501 §5.1.3); message bodies are exact bytes; a NO or BAD answer raises
L{DovecotError}; bulk loads use MULTIAPPEND (RFC 3502) with LITERAL+
(RFC 7888), so a few thousand messages load in seconds; a bigger corpus
(C{bench/run.py --huge}) is written straight into the account's Maildir as
files Dovecot indexes on first access (L{DovecotAccount.deliver_files}).
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import socket
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple

_MAILDIR_FLAGS = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}
_SEQUENCE = itertools.count(1)

_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class DovecotError(Exception):
    """
    The private Dovecot could not be set up, started, stopped or driven.
    """


class StoredMessage(NamedTuple):
    """
    One message as the server has it.

    @ivar uid: its UID in the mailbox.
    @ivar flags: its flags (C{\\Recent} left out: it depends on who looked first).
    @ivar body: its exact bytes.
    """

    uid: int
    flags: frozenset[str]
    body: bytes


def encode_mailbox_name(name: str) -> bytes:
    """
    Encode a mailbox name in modified UTF-7 (RFC 3501 §5.1.3).

    @param name: the name as text.
    @return: its IMAP wire form.
    """
    out = bytearray()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(raw).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.extend(b"&-" if char == "&" else char.encode("ascii"))
        else:
            pending.append(char)
    flush()
    return bytes(out)


def decode_mailbox_name(wire: bytes) -> str:
    """
    Decode a modified UTF-7 mailbox name (RFC 3501 §5.1.3).

    @param wire: the name as the server sent it.
    @return: the name as text.
    """

    def shifted(match: re.Match[bytes]) -> bytes:
        encoded = match.group(1)
        if not encoded:
            return b"&"
        padded = encoded.replace(b",", b"/") + b"=" * (-len(encoded) % 4)
        return base64.b64decode(padded).decode("utf-16-be").encode("utf-8")

    return re.sub(rb"&([A-Za-z0-9+,]*)-", shifted, wire).decode("utf-8")


def imap_date(moment: datetime) -> bytes:
    """
    Format an INTERNALDATE for APPEND (RFC 3501 §9 C{date-time}).

    @param moment: the time; naive values are taken as UTC.
    @return: the quoted date-time.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    month = _MONTHS[moment.month - 1]
    text = f'"{moment.day:2d}-{month}-{moment.year:04d} {moment:%H:%M:%S} {zone}"'
    return text.encode("ascii")


class DovecotAccount:
    """
    One IMAP user of a private Dovecot, with blocking helpers to inspect and
    change its mail behind the back of the code under test.

    Every helper uses one lazily opened IMAP connection, logged in as the user.
    Mailbox names are text; flags are strings like C{"\\\\Seen"}.

    @ivar user: the login name.
    @ivar password: the password (plaintext; stored as C{{PLAIN}}).
    @ivar home: the user's home; mail is in its C{Maildir}.
    """

    def __init__(self, host: str, port: int, user: str, password: str, home: str) -> None:
        """
        @param host: the server's address.
        @param port: its plain IMAP port.
        @param user: the login name.
        @param password: the password.
        @param home: the user's home directory.
        """
        self._address = (host, port)
        self.user = user
        self.password = password
        self.home = home
        self._link: _IMAPLink | None = None
        # deliver_files: the keywords of each box written to, in letter order.
        self._keywords: dict[str, list[str]] = {}

    def _imap(self) -> _IMAPLink:
        if self._link is None or self._link.closed:
            if self._link is not None:
                self._link.close()  # dropped by the server: release its socket
                self._link = None
            link = _IMAPLink(*self._address)
            try:
                link.command(
                    b"LOGIN " + _quote(self.user.encode()) + b" " + _quote(self.password.encode())
                )
            except BaseException:
                link.close()
                raise
            self._link = link
        return self._link

    def close(self) -> None:
        """
        Log out and close the helper connection, if open.
        """
        if self._link is not None:
            self._link.close()
            self._link = None

    def create_mailbox(self, name: str) -> None:
        """
        Create a mailbox; C{/} separates levels and missing parents appear too.

        @param name: its name, any Unicode.
        """
        self._imap().command(b"CREATE " + _quote(encode_mailbox_name(name)))

    def delete_mailbox(self, name: str) -> None:
        """
        Delete a mailbox and its messages.

        @param name: its name.
        """
        self._imap().command(b"DELETE " + _quote(encode_mailbox_name(name)))

    def list_mailboxes(self, selectable_only: bool = True) -> list[str]:
        """
        List the account's mailboxes.

        @param selectable_only: leave out C{\\Noselect} and C{\\NonExistent}
            ones, such as the parent C{Archive} that Dovecot reports after
            C{CREATE Archive/2024}.
        @return: their names, sorted; C{INBOX} included.
        """
        names = []
        for response in self._imap().command(b'LIST "" "*"'):
            tokens = _tokenize(response)
            if tokens[:2] != [b"*", b"LIST"]:
                continue
            attributes, name = tokens[2], tokens[4]
            assert isinstance(attributes, list) and isinstance(name, bytes), response
            unselectable = {b"\\NOSELECT", b"\\NONEXISTENT"} & {
                attribute.upper() for attribute in attributes if isinstance(attribute, bytes)
            }
            if not (selectable_only and unselectable):
                names.append(decode_mailbox_name(name))
        return sorted(names)

    def add_message(
        self,
        mailbox: str,
        message: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """
        Append one message.

        @param mailbox: the existing mailbox to append to.
        @param message: the message's exact bytes (CRLF line ends expected).
        @param flags: its flags, e.g. C{("\\\\Seen",)}.
        @param internal_date: its INTERNALDATE, or C{None} for now.
        @return: the UID the server gave it.
        """
        return self.add_messages(mailbox, [(message, flags, internal_date)])[0]

    def add_messages(
        self,
        mailbox: str,
        messages: Iterable[tuple[bytes, Iterable[str], datetime | None]],
        batch_bytes: int = 4 << 20,
    ) -> list[int]:
        """
        Append many messages quickly: MULTIAPPEND (RFC 3502) batches of about
        C{batch_bytes}, each one transaction for Dovecot, sent with LITERAL+
        (RFC 7888) so no batch waits for continuations.

        @param mailbox: the existing mailbox to append to.
        @param messages: C{(bytes, flags, internal_date or None)} triples.
        @param batch_bytes: roughly how many bytes one APPEND carries.
        @return: the new UIDs, in order.
        """
        uids: list[int] = []
        for batch in _batches(messages, batch_bytes):
            line = b"APPEND " + _quote(encode_mailbox_name(mailbox))
            for body, flags, date in batch:
                line += _append_item(body, flags, date)
            tagged = self._imap().command_tagged(line)
            match = re.search(rb"\[APPENDUID \d+ ([0-9:,]+)\]", tagged)
            if match is None:
                raise DovecotError(f"APPEND answer without APPENDUID: {tagged!r}")
            uids.extend(_uid_set(match.group(1)))
        return uids

    def deliver_files(
        self,
        mailbox: str,
        messages: Iterable[tuple[bytes, Iterable[str], datetime | None]],
    ) -> int:
        """
        Deliver many messages as Maildir files straight into the account's
        mail directory, as a local delivery agent would (LF line ends, flags
        in the name, the INTERNALDATE as the file's mtime): no IMAP round
        trip, so 200,000 messages take minutes, not hours. Dovecot numbers
        them when the mailbox is next opened. Only the system flags can be
        given this way.

        @param mailbox: the mailbox (created on disk if missing; the layout
            is the fixture's C{LAYOUT=fs} with C{INBOX} in C{Maildir/INBOX}).
        @param messages: C{(bytes, flags, internal_date or None)} triples.
        @return: how many were written.
        """
        if mailbox.startswith("/") or ".." in mailbox.split("/"):
            raise DovecotError(f"unusable mailbox name {mailbox!r}")
        box = os.path.join(self.home, "Maildir", *mailbox.split("/"))
        owner = os.stat(self.home)
        keywords = self._keywords.get(box)
        if keywords is None:
            keywords = self._keywords[box] = []
            for part in ("", "cur", "new", "tmp"):
                os.makedirs(os.path.join(box, part), exist_ok=True)
            for directory, _, _ in os.walk(os.path.join(self.home, "Maildir")):
                if os.path.basename(directory) not in ("cur", "new", "tmp"):
                    os.chown(directory, owner.st_uid, owner.st_gid)
                    for part in ("cur", "new", "tmp"):
                        inner = os.path.join(directory, part)
                        if os.path.isdir(inner):
                            os.chown(inner, owner.st_uid, owner.st_gid)
        count = 0
        for body, flags, date in messages:
            count += 1
            data = body.replace(b"\r\n", b"\n")
            letters = "".join(sorted(self._letter(box, keywords, flag) for flag in flags))
            moment = (date or datetime.now(UTC)).timestamp()
            name = f"{int(moment)}.M{next(_SEQUENCE)}P{os.getpid()}.bench,S={len(data)}:2,{letters}"
            path = os.path.join(box, "cur", name)
            with open(path, "wb") as file:
                file.write(data)
            os.chown(path, owner.st_uid, owner.st_gid)
            os.utime(path, (moment, moment))
        return count

    def _letter(self, box: str, keywords: list[str], flag: str) -> str:
        """
        The Maildir letter of C{flag} in C{box}: a system flag's, or a
        keyword's from the box's C{dovecot-keywords} file (Dovecot's
        C{a}..C{z}), which is rewritten when a keyword is new.
        """
        letter = _MAILDIR_FLAGS.get(flag)
        if letter is not None:
            return letter
        if flag not in keywords:
            if len(keywords) == 26:
                raise DovecotError(f"more than 26 keywords in {box}")
            keywords.append(flag)
            path = os.path.join(box, "dovecot-keywords")
            with open(path, "w", encoding="ascii") as file:
                file.writelines(f"{index} {word}\n" for index, word in enumerate(keywords))
            owner = os.stat(self.home)
            os.chown(path, owner.st_uid, owner.st_gid)
        return chr(ord("a") + keywords.index(flag))

    def set_flags(self, mailbox: str, uid: int, flags: Iterable[str]) -> None:
        """
        Replace a message's flags.

        @param mailbox: its mailbox.
        @param uid: its UID.
        @param flags: the complete new set of flags.
        """
        link = self._select(mailbox)
        link.command(b"UID STORE %d FLAGS.SILENT (%s)" % (uid, _flag_list(flags)))

    def expunge(self, mailbox: str, uid: int) -> None:
        """
        Remove one message for good.

        @param mailbox: its mailbox.
        @param uid: its UID.
        """
        link = self._select(mailbox)
        link.command(b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % (uid,))
        link.command(b"UID EXPUNGE %d" % (uid,))

    def messages(self, mailbox: str) -> list[StoredMessage]:
        """
        Read back a whole mailbox, without setting C{\\Seen}.

        @param mailbox: its name.
        @return: every message, by ascending UID.
        """
        link = self._select(mailbox, readonly=True)
        found = []
        for response in link.command(b"UID FETCH 1:* (UID FLAGS BODY.PEEK[])"):
            items = _fetch_items(response)
            if items is None or b"BODY[]" not in items or b"UID" not in items:
                # Not ours: an unsolicited FETCH (FLAGS) about a change another
                # session (the daemon under test) made meanwhile.
                continue
            flag_items = items[b"FLAGS"]
            assert isinstance(flag_items, list)
            flags = frozenset(
                flag.decode()
                for flag in flag_items
                if isinstance(flag, bytes) and flag != b"\\Recent"
            )
            uid, body = items[b"UID"], items[b"BODY[]"]
            assert isinstance(uid, bytes) and isinstance(body, bytes)
            found.append(StoredMessage(int(uid), flags, body))
        return sorted(found)

    def uid_validity(self, mailbox: str) -> int:
        """
        @param mailbox: its name.
        @return: its UIDVALIDITY.
        """
        return self._status(mailbox, b"UIDVALIDITY")

    def message_count(self, mailbox: str) -> int:
        """
        @param mailbox: its name.
        @return: how many messages it holds.
        """
        return self._status(mailbox, b"MESSAGES")

    def recent_count(self, mailbox: str) -> int:
        """
        @param mailbox: its name.
        @return: how many of its messages are C{\\Recent} (STATUS does not
            clear them).
        """
        return self._status(mailbox, b"RECENT")

    def uid_next(self, mailbox: str) -> int:
        """
        @param mailbox: its name.
        @return: its UIDNEXT.
        """
        return self._status(mailbox, b"UIDNEXT")

    def _status(self, mailbox: str, item: bytes) -> int:
        wire = _quote(encode_mailbox_name(mailbox))
        for response in self._imap().command(b"STATUS " + wire + b" (" + item + b")"):
            match = re.search(rb"\(.*\b" + item + rb" (\d+)", response)
            if response.startswith(b"* STATUS") and match:
                return int(match.group(1))
        raise DovecotError(f"no STATUS {item!r} for {mailbox!r}")

    def _select(self, mailbox: str, readonly: bool = False) -> _IMAPLink:
        link = self._imap()
        verb = b"EXAMINE " if readonly else b"SELECT "
        link.command(verb + _quote(encode_mailbox_name(mailbox)))
        return link


def _quote(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _flag_list(flags: Iterable[str]) -> bytes:
    return " ".join(flags).encode("ascii")


def _append_item(body: bytes, flags: Iterable[str], date: datetime | None) -> bytes:
    """
    One message of a (MULTI)APPEND: C{ (flags) "date" {n+}CRLF<bytes>}.
    """
    item = b" (" + _flag_list(flags) + b")"
    if date is not None:
        item += b" " + imap_date(date)
    # RFC 7888 LITERAL+: "{n+}" needs no continuation.
    return item + b" {%d+}\r\n" % (len(body),) + body


def _batches(
    messages: Iterable[tuple[bytes, Iterable[str], datetime | None]], batch_bytes: int
) -> Iterator[list[tuple[bytes, Iterable[str], datetime | None]]]:
    batch: list[tuple[bytes, Iterable[str], datetime | None]] = []
    size = 0
    for message in messages:
        batch.append(message)
        size += len(message[0])
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _uid_set(text: bytes) -> list[int]:
    uids: list[int] = []
    for part in text.split(b","):
        first, _, last = part.partition(b":")
        uids.extend(range(int(first), int(last or first) + 1))
    return uids


class _IMAPLink:
    """
    A blocking IMAP client connection: send tagged commands, collect the
    untagged responses (literals inlined), raise on NO/BAD.
    """

    def __init__(self, host: str, port: int) -> None:
        self._socket = socket.create_connection((host, port), timeout=30.0)
        self._reader = self._socket.makefile("rb")
        self._counter = 0
        self.closed = False
        try:
            greeting = self._read_response()
            if not greeting.startswith(b"* OK"):
                raise DovecotError(f"unexpected greeting {greeting!r}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                # Wait for the answer: an imap process still busy logging
                # out holds up Dovecot's shutdown for a second.
                self._socket.sendall(b"Z LOGOUT\r\n")
                line = b"*"
                while line and not line.startswith(b"Z "):
                    line = self._reader.readline()
            except OSError:
                pass
        # Always release the socket, also after the server closed it (the
        # reader would otherwise be found unclosed by the garbage collector
        # in some later test, as a ResourceWarning).
        self._reader.close()
        self._socket.close()

    def _read_response(self) -> bytes:
        """
        Read one response, with any literals' bytes inlined.
        """
        response = b""
        while True:
            line = self._reader.readline()
            if not line.endswith(b"\r\n"):
                self.closed = True
                raise DovecotError(f"connection closed by the server after {response + line!r}")
            response += line
            literal = re.search(rb"\{(\d+)\}\r\n$", line)
            if literal is None:
                return response[:-2]
            response += self._reader.read(int(literal.group(1)))

    def command(self, line: bytes) -> list[bytes]:
        """
        Run one command.

        @return: the untagged responses it produced.
        @raise DovecotError: on a NO or BAD answer.
        """
        untagged: list[bytes] = []
        self._run(line, untagged)
        return untagged

    def command_tagged(self, line: bytes) -> bytes:
        """
        Run one command.

        @return: its tagged OK response.
        @raise DovecotError: on a NO or BAD answer.
        """
        return self._run(line, [])

    def _run(self, line: bytes, untagged: list[bytes]) -> bytes:
        self._counter += 1
        tag = b"F%d" % (self._counter,)
        self._socket.sendall(tag + b" " + line + b"\r\n")
        while True:
            response = self._read_response()
            if response.startswith(b"* "):
                untagged.append(response)
                continue
            if not response.startswith(tag + b" OK"):
                raise DovecotError(f"IMAP command failed: {response[:500]!r}")
            return response


Token = bytes | list["Token"]
_QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_LITERAL = re.compile(rb"\{(\d+)\}\r\n")
# An atom may carry a bracketed section with spaces: BODY[HEADER.FIELDS (A B)].
_ATOM = re.compile(rb"(?:[^ ()\[]|\[[^\]]*\])+")


def _tokenize(response: bytes) -> list[Token]:
    """
    Split a response into atoms, strings and literals (all C{bytes}) and
    nested parenthesised lists.
    """
    stack: list[list[Token]] = [[]]
    position = 0
    while position < len(response):
        char = response[position : position + 1]
        if char == b" ":
            position += 1
            continue
        if char == b"(":
            stack.append([])
            position += 1
            continue
        if char == b")":
            done = stack.pop()
            stack[-1].append(done)
            position += 1
            continue
        if char == b'"':
            match = _QUOTED.match(response, position)
            assert match is not None, response
            stack[-1].append(re.sub(rb"\\(.)", rb"\1", match.group(1)))
            position = match.end()
            continue
        literal = _LITERAL.match(response, position)
        if literal is not None:
            size = int(literal.group(1))
            stack[-1].append(response[literal.end() : literal.end() + size])
            position = literal.end() + size
            continue
        atom = _ATOM.match(response, position)
        assert atom is not None, response
        stack[-1].append(atom.group(0))
        position = atom.end()
    return stack[0]


def _fetch_items(response: bytes) -> dict[bytes, Token] | None:
    """
    Turn C{* n FETCH (K V K V ...)} into C{{K: V}}; C{None} for other responses.
    """
    tokens = _tokenize(response)
    if len(tokens) != 4 or tokens[2] != b"FETCH" or not isinstance(tokens[3], list):
        return None
    pairs = tokens[3]
    items: dict[bytes, Token] = {}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        assert isinstance(key, bytes), response
        items[key.upper()] = value
    return items
