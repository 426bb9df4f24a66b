"""
A minimal blocking IMAP client for the benchmark: drives the server behind
the tools' backs, checks both sides after every run, and is the "floor"
(the least a client can do to fetch every message).

It is independent of msync's IMAP client on purpose: the check must not
share a bug with the code it checks. Literals are counted, never scanned.
"""

from __future__ import annotations

import os
import re
import socket
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SYSTEM_FLAGS = {
    b"\\Seen": "S",
    b"\\Answered": "R",
    b"\\Flagged": "F",
    b"\\Deleted": "T",
    b"\\Draft": "D",
}
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_MESSAGE_ID = re.compile(rb"^message-id:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


class Link:
    """
    One logged-in plaintext connection.
    """

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.reader = self.sock.makefile("rb", buffering=1 << 20)
        self.tag = 0
        self.reader.readline()
        self.run(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))

    def close(self) -> None:
        try:
            self.run(b"LOGOUT")
        finally:
            self.reader.close()
            self.sock.close()

    def read_response(self, sink: Callable[[bytes], None] | None = None) -> bytes:
        """
        One whole response: its text with every literal inline, or (when a
        C{sink} is given) each literal handed to it and replaced by C{{}}.
        """
        parts = []
        while True:
            line = self.reader.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            match = _LITERAL.search(line)
            if match is None:
                parts.append(line)
                return b"".join(parts)
            data = self.reader.read(int(match.group(1)))
            if sink is None:
                parts.append(line + data)
            else:
                parts.append(line[: match.start()] + b"{}")
                sink(data)

    def run(self, command: bytes, sink: Callable[[bytes], None] | None = None) -> list[bytes]:
        """
        Send one command; return its untagged responses, raise unless OK.
        """
        return self.finish(self.send(command), command, sink)

    def send(self, *commands: bytes) -> bytes:
        """
        Send C{commands} in one write (pipelined); return the last one's tag
        (the tags before it are one less each).
        """
        lines = []
        for command in commands:
            self.tag += 1
            lines.append(b"B%d " % self.tag + command + b"\r\n")
        self.sock.sendall(b"".join(lines))
        return b"B%d" % self.tag

    def finish(
        self, tag: bytes, command: bytes = b"", sink: Callable[[bytes], None] | None = None
    ) -> list[bytes]:
        """
        Read up to the tagged answer of C{tag}: the untagged responses of
        it and of every command sent before it; raise unless each is OK.
        """
        untagged: list[bytes] = []
        while True:
            response = self.read_response(sink)
            if response.startswith(b"B"):
                mine = response.startswith(tag + b" ")
                if not response.split(b" ", 2)[1:2] == [b"OK"]:
                    raise RuntimeError(f"{command[:60]!r}: {response!r}")
                if mine:
                    return untagged
                continue
            untagged.append(response)

    def select(self, folder: str, readonly: bool = False) -> None:
        verb = b"EXAMINE" if readonly else b"SELECT"
        self.run(verb + b' "' + folder.encode() + b'"')

    def uid_next(self, folder: str) -> int:
        for line in self.run(b'STATUS "' + folder.encode() + b'" (UIDNEXT)'):
            match = re.search(rb"UIDNEXT (\d+)", line)
            if match:
                return int(match.group(1))
        raise RuntimeError("no UIDNEXT")

    def flags(self, folder: str) -> dict[int, frozenset[bytes]]:
        self.select(folder, readonly=True)
        found = {}
        for line in self.run(b"UID FETCH 1:* (UID FLAGS)"):
            uid = re.search(rb"UID (\d+)", line)
            flags = re.search(rb"FLAGS \(([^)]*)\)", line)
            if uid and flags:
                found[int(uid.group(1))] = frozenset(flags.group(1).split())
        return found

    def summary(self, folder: str) -> Counter[tuple[bytes, str]]:
        """
        The folder's messages as a multiset of (Message-ID, system flags).
        """
        self.select(folder, readonly=True)
        found: Counter[tuple[bytes, str]] = Counter()
        items = b"(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
        for line in self.run(b"UID FETCH 1:* " + items):
            flags = re.search(rb"FLAGS \(([^)]*)\)", line)
            ident = _MESSAGE_ID.search(line)
            if flags is None:
                continue
            letters = "".join(sorted(SYSTEM_FLAGS.get(f, "") for f in flags.group(1).split()))
            found[(ident.group(1) if ident else b""), letters] += 1
        return found


def maildir_summary(box: Path) -> Counter[tuple[bytes, str]]:
    """
    A Maildir folder's messages as a multiset of (Message-ID, system flags).
    """
    found: Counter[tuple[bytes, str]] = Counter()
    for sub in ("cur", "new"):
        directory = box / sub
        if not directory.is_dir():
            continue
        for entry in os.scandir(directory):
            with open(entry.path, "rb") as message:
                head = message.read(16384).replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
            ident = _MESSAGE_ID.search(head)
            letters = "".join(sorted(c for c in entry.name.rpartition(":2,")[2] if c in "DFRST"))
            found[(ident.group(1) if ident else b""), letters] += 1
    return found


def floor_pull(
    host: str,
    port: int,
    user: str,
    password: str,
    folders: list[str],
    into: Path | None,
    fsync: bool = True,
) -> int:
    """
    The floor: fetch every message of C{folders}, in one command per folder.
    With C{into}, also write each to its own file and fsync it (what any
    safe client must do; without C{fsync}, only write it); without, only
    download. Return the byte count.
    """
    link = Link(host, port, user, password)
    total = 0
    count = 0

    def keep(body: bytes) -> None:
        nonlocal total, count
        total += len(body)
        count += 1
        if into is not None:
            path = into / str(count)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(descriptor, body)
                if fsync:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)

    try:
        for folder in folders:
            link.select(folder, readonly=True)
            link.run(b"UID FETCH 1:* (BODY.PEEK[])", keep)
        if into is not None and fsync:
            directory = os.open(into, os.O_RDONLY)
            os.fsync(directory)
            os.close(directory)
    finally:
        link.close()
    return total


#: What a resync after a small change starts from, per folder: the
#: UIDVALIDITY, HIGHESTMODSEQ and UIDNEXT of the last sync.
Known = dict[str, tuple[int, int, int]]


def resync_known(host: str, port: int, user: str, password: str, folders: list[str]) -> Known:
    """
    What a client keeps between syncs (L{Known}), taken by C{STATUS}.
    """
    link = Link(host, port, user, password)
    known: Known = {}
    try:
        for folder in folders:
            (line,) = link.run(b'STATUS "%s" (UIDVALIDITY HIGHESTMODSEQ UIDNEXT)' % folder.encode())
            values = dict(re.findall(rb"(UIDVALIDITY|HIGHESTMODSEQ|UIDNEXT) (\d+)", line))
            known[folder] = (
                int(values[b"UIDVALIDITY"]),
                int(values[b"HIGHESTMODSEQ"]),
                int(values[b"UIDNEXT"]),
            )
    finally:
        link.close()
    return known


def _resync_box(link: Link, folder: str, known: tuple[int, int, int]) -> tuple[int, int]:
    """
    One box's server accesses of a resync on a selected-state C{link}
    with QRESYNC enabled: its C{SELECT} and the C{CHANGEDSINCE}/C{VANISHED}
    FETCH (pipelined), then the bodies of the messages new since
    C{known}'s UIDNEXT, if the C{SELECT} says there are any. Return the
    count of FETCH answers (changed messages) and of bodies.
    """
    validity, modseq, uid_next = known
    name = b'"' + folder.encode() + b'"'
    tag = link.send(
        b"SELECT " + name,
        b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq,
    )
    untagged = link.finish(tag)
    changed = sum(1 for line in untagged if b" FETCH (" in line)
    now_next = uid_next
    for line in untagged:
        found = re.search(rb"\[(UIDVALIDITY|UIDNEXT) (\d+)\]", line)
        if found and found.group(1) == b"UIDVALIDITY" and int(found.group(2)) != validity:
            raise RuntimeError(f"{folder}: UIDVALIDITY changed")
        if found and found.group(1) == b"UIDNEXT":
            now_next = int(found.group(2))
    bodies = 0
    if now_next > uid_next:

        def keep(body: bytes) -> None:
            nonlocal bodies
            bodies += 1

        link.run(b"UID FETCH %d:* (BODY.PEEK[])" % uid_next, keep)
    return changed, bodies


def floor_resync(
    host: str, port: int, user: str, password: str, known: Known, parallel: bool
) -> tuple[int, int]:
    """
    The floor of a resync after a small change: only the server accesses
    any client must make, from logging in to the last new body, nothing
    written. Over one connection, box after box (as a client syncing one
    box pair at a time), or with C{parallel} one connection per box, all
    at once. Return the counts of changed messages and of new bodies.
    """

    def boxes(folders: list[str]) -> tuple[int, int]:
        link = Link(host, port, user, password)
        changed = bodies = 0
        try:
            link.run(b"ENABLE QRESYNC")
            for folder in folders:
                one, two = _resync_box(link, folder, known[folder])
                changed += one
                bodies += two
        finally:
            link.close()
        return changed, bodies

    if not parallel:
        return boxes(list(known))
    with ThreadPoolExecutor(len(known)) as pool:
        counts = list(pool.map(boxes, [[folder] for folder in known]))
    return sum(c[0] for c in counts), sum(c[1] for c in counts)
