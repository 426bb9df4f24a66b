# -*- test-case-name: tests.integration.test_hostile_memory -*-
"""
A minimal, hostile IMAP server on a real socket, for measuring the memory
of a whole C{msync} process under floods.

It greets with C{PREAUTH} (no login), serves one INBOX holding one message
and answers the commands a sync sends; one L{Flood} makes it misbehave at
one command: a flood of untagged lines, or an endless listing, or a huge
body literal.

Invariants: it listens on 127.0.0.1 only, on a free port; it serves one
connection at a time in a daemon thread; L{HostileServer.close} closes
every socket and joins the thread.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from dataclasses import dataclass

MESSAGE = b"From: a@example\r\nSubject: one\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"
_COMMAND = re.compile(rb"^(\S+) (UID \S+|\S+)(.*)$", re.DOTALL)
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")


@dataclass(frozen=True, slots=True)
class Flood:
    """
    How the server misbehaves.

    @ivar command: the command (upper case, e.g. C{b"SELECT"}) answered with it.
    @ivar line: an untagged line (without CRLF) sent C{count} times first.
    @ivar count: how many times.
    @ivar numbered: put the line number into each line (C{%d} in C{line}).
    @ivar body_size: instead, answer body fetches with a body of this size.
    @ivar starttls_inject: greet without PREAUTH offering STARTTLS, and
        send these bytes in plaintext in the same segment as the OK to
        STARTTLS (empty: a clean STARTTLS); needs a C{tls} context.
    """

    command: bytes
    line: bytes = b""
    count: int = 0
    numbered: bool = False
    body_size: int = 0
    starttls_inject: bytes | None = None


class HostileServer:
    """
    See the module docstring.

    @ivar port: where it listens.
    @ivar sent: bytes sent on the last connection.
    @ivar commands: the command names received, in order.
    """

    def __init__(self, flood: Flood, tls: ssl.SSLContext | None = None) -> None:
        self.flood = flood
        self.commands: list[bytes] = []
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.sent = 0
        self._closing = threading.Event()
        self._client: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """
        Stop serving and close every socket.
        """
        self._closing.set()
        if self._client is not None:
            try:
                self._client.close()
            except OSError:
                pass
        self._thread.join(timeout=10)
        self._listener.close()

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._client = client
            try:
                self._serve(client)
            except OSError:
                pass
            finally:
                client.close()
                if self._client is not None:
                    self._client.close()

    def _send(self, client: socket.socket, data: bytes) -> None:
        client.sendall(data)
        self.sent += len(data)

    def _serve(self, client: socket.socket) -> None:
        if self.flood.starttls_inject is None:
            self._send(client, b"* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] hostile\r\n")
        else:
            self._send(client, b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hostile\r\n")
        buffer = b""
        while not self._closing.is_set():
            while b"\r\n" not in buffer:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
            line, _, buffer = buffer.partition(b"\r\n")
            literal = _LITERAL.search(line)
            if literal is not None:
                # APPEND: take the literal and the rest of the line.
                size = int(literal.group(1))
                if not line.endswith(b"+}"):
                    self._send(client, b"+ go\r\n")
                while len(buffer) < size + 2 or b"\r\n" not in buffer[size:]:
                    buffer += client.recv(65536)
                rest, _, buffer = buffer[size:].partition(b"\r\n")
                line += rest
            match = _COMMAND.match(line)
            if match is None:
                continue
            tag, name, arguments = match.group(1), match.group(2).upper(), match.group(3)
            self.commands.append(name)
            if name == b"STARTTLS":
                client = self._start_tls(client, tag)
                self._client = client
                continue
            if not self._answer(client, tag, name, arguments):
                return

    def _start_tls(self, client: socket.socket, tag: bytes) -> socket.socket:
        """
        OK, the injection in the same segment, then the server handshake.

        @raise OSError: if the handshake fails (the client refused).
        """
        assert self._tls is not None
        self._send(client, tag + b" OK begin TLS\r\n" + (self.flood.starttls_inject or b""))
        return self._tls.wrap_socket(client, server_side=True)

    def _answer(self, client: socket.socket, tag: bytes, name: bytes, arguments: bytes) -> bool:
        flood = self.flood
        if name == flood.command and flood.count:
            self._flood(client)
        if name == b"CAPABILITY":
            self._send(client, b"* CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n")
        elif name == b"LIST":
            if arguments.rstrip().endswith(b'""'):
                self._send(client, b'* LIST (\\Noselect) "/" ""\r\n')
            else:
                self._send(client, b'* LIST () "/" INBOX\r\n')
        elif name in (b"SELECT", b"EXAMINE"):
            self._send(
                client,
                b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 2] n\r\n"
                b"* FLAGS (\\Seen)\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] p\r\n",
            )
            self._send(client, tag + b" OK [READ-WRITE] selected\r\n")
            return True
        elif name == b"UID FETCH":
            self._fetch(client, arguments)
        elif name == b"LOGOUT":
            self._send(client, b"* BYE bye\r\n" + tag + b" OK done\r\n")
            return False
        self._send(client, tag + b" OK done\r\n")
        return True

    def _flood(self, client: socket.socket) -> None:
        flood = self.flood
        if flood.numbered:
            block = 2000
            for start in range(0, flood.count, block):
                lines = [flood.line % index for index in range(start, start + block)]
                self._send(client, b"\r\n".join(lines) + b"\r\n")
        else:
            per = max(1, 65536 // (len(flood.line) + 2))
            chunk = (flood.line + b"\r\n") * per
            for _ in range(flood.count // per + 1):
                self._send(client, chunk)

    def _fetch(self, client: socket.socket, arguments: bytes) -> None:
        wants_body = b"BODY.PEEK[]" in arguments.upper() or b"BODY[]" in arguments.upper()
        items = b"UID 1 FLAGS () RFC822.SIZE %d" % (
            self.flood.body_size if self.flood.body_size else len(MESSAGE)
        )
        if b"INTERNALDATE" in arguments.upper():
            items += b' INTERNALDATE "01-Jan-2024 00:00:00 +0000"'
        if not wants_body:
            self._send(client, b"* 1 FETCH (%s)\r\n" % items)
            return
        if self.flood.body_size:
            # The UID after the literal: msync cannot stream it, it must buffer.
            size = self.flood.body_size
            self._send(client, b"* 1 FETCH (FLAGS () BODY[] {%d}\r\n" % size)
            self._send(client, MESSAGE)
            chunk = b"x" * 1022 + b"\r\n"
            left = size - len(MESSAGE)
            for _ in range(left // len(chunk)):
                self._send(client, chunk)
            self._send(client, b"x" * (left % len(chunk)))
            self._send(client, b' INTERNALDATE "01-Jan-2024 00:00:00 +0000" UID 1)\r\n')
            return
        self._send(client, b"* 1 FETCH (%s BODY[] {%d}\r\n%s)\r\n" % (items, len(MESSAGE), MESSAGE))
