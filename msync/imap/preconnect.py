# -*- test-case-name: tests.imap.test_preconnect -*-
"""
TCP connections to plain IMAP servers opened before Twisted is loaded, so
that the connection, the server's greeting and the login overlap the
loading of Twisted, the runner and the stores (a good part of a run's
start-up; mbsync connects at once), then handed to the reactor by
L{msync.imap.endpoint}.

Invariants:
  - Only what L{start} is given: the CLI starts them for C{SSLType None}
    and C{STARTTLS} accounts with a C{Host} (no Tunnel, no IMAPS), and
    not with C{-V} or C{-D}, whose lines say when msync resolves and
    connects. Nothing here speaks TLS: a STARTTLS connection's talk only
    reads the greeting (and asks for the capabilities if it names none).
  - Once connected, an attempt given an L{EarlyTalk} lets it speak (the
    greeting, C{CAPABILITY}, C{LOGIN}: see L{msync.imap.earlytalk}) over
    the blocking socket in its thread, until the talk is done or the
    connection is taken; without one, nothing is sent and what the server
    says first waits in the socket for the protocol.
  - One attempt per host and port, in a daemon thread (name resolution
    and the connection block there, never the caller); C{Timeout} bounds
    the connection.
  - L{take} never waits for the connection: an attempt not connected by
    then is abandoned (its socket closed when it ends) and the caller
    connects as without it; a failed attempt says nothing (the caller's
    own attempt reports). A talking attempt is stopped where it is (a
    socket pair wakes its C{select}), and its thread ended, before the
    socket and the talk are handed over: from then on only the taker
    touches them, and the protocol takes the conversation over where it
    stopped (what the server sent since is still in the socket).
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from typing import Any, cast

from msync.imap.earlytalk import EarlyTalk

__all__ = ["ascii_host", "create_connection", "start", "take", "take_early"]

Connect = Callable[[tuple[str, int], float | None], socket.socket]
"""Connects to (host, port) within a timeout (L{socket.create_connection})."""

_READ_SIZE = 65536


def ascii_host(host: str) -> str | bytes:
    """
    C{host} as the resolver gets it from L{socket.getaddrinfo}: a name that
    is ASCII with no empty or overlong label as its bytes (what the
    C{idna} codec gives for it), so that the lookup does not load the
    codec (C{encodings.idna} and C{stringprep}, while the main thread
    loads Twisted); any other name as it is, for the codec to encode (or
    refuse) as before.
    """
    if not host.isascii():
        return host
    labels = host.split(".")
    if not all(0 < len(label) < 64 for label in labels[:-1]) or len(labels[-1]) >= 64:
        return host
    return host.encode("ascii")


def create_connection(address: tuple[str, int], timeout: float | None) -> socket.socket:
    """
    L{socket.create_connection} to C{address}, its host given to the
    resolver by L{ascii_host}.
    """
    host, port = address
    return socket.create_connection(cast(Any, (ascii_host(host), port)), timeout)


class _Attempt:
    """
    One connection attempt, made by its own thread.

    @ivar connected: the socket, once connected and not yet taken.
    @ivar abandoned: taken (or given up): a later socket is closed.
    @ivar talk: the early conversation, if any.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float | None,
        connect: Connect,
        talk: EarlyTalk | None = None,
    ) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._connect = connect
        self._lock = threading.Lock()
        self.connected: socket.socket | None = None
        self.abandoned = False
        self.talk = talk
        self._talking = False
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self.thread = threading.Thread(target=self._run, name=f"connect {host}:{port}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            made: socket.socket | None = self._connect(self._address, self._timeout)
        except OSError:
            return
        with self._lock:
            if not self.abandoned:
                self.connected, made = made, None
                if self.talk is not None:
                    try:
                        self._wake = socket.socketpair()
                    except OSError:
                        self.talk = None
                    else:
                        self._talking = True
        if made is not None:
            made.close()
            return
        if self._talking:
            try:
                self._converse()
            finally:
                with self._lock:
                    self._talking = False

    def _converse(self) -> None:
        """
        Let the talk speak until it is done, the connection ends or the
        attempt is taken.
        """
        talk, sock, wake = self.talk, self.connected, self._wake
        assert talk is not None and sock is not None and wake is not None
        while not talk.done:
            try:
                ready, _, _ = select.select([sock, wake[0]], [], [])
            except (OSError, ValueError):
                return
            if wake[0] in ready:
                return
            try:
                data = sock.recv(_READ_SIZE)
            except OSError:
                # Reset, or anything else: the protocol sees it for itself.
                return
            if not data:
                # The server closed: the reactor reads the end too.
                return
            reply = talk.receive(data)
            if reply:
                try:
                    sock.sendall(reply)
                except OSError:
                    return

    def take(self) -> tuple[socket.socket, EarlyTalk | None] | None:
        """
        The connected socket and its talk, if connected now; the attempt
        is over (a talk is stopped first).
        """
        with self._lock:
            self.abandoned = True
            taken, self.connected = self.connected, None
            talking = self._talking
            wake = self._wake
        if taken is None:
            return None
        if talking and wake is not None:
            wake[1].send(b"x")
            self.thread.join()
        if wake is not None:
            for each in wake:
                each.close()
        return taken, self.talk


_attempts: dict[tuple[str, int], _Attempt] = {}


def start(
    host: str,
    port: int,
    timeout: float | None = None,
    connect: Connect = create_connection,
    talk: EarlyTalk | None = None,
) -> None:
    """
    Start connecting to C{host}:C{port} (its addresses in the resolver's
    order, as L{socket.create_connection} tries them), unless an attempt
    was started already.

    @param timeout: bounds each address's connection, in seconds (C{None}:
        the system's).
    @param connect: makes the connection (replaceable for tests).
    @param talk: the conversation to hold once connected, if any.
    """
    if (host, port) not in _attempts:
        _attempts[host, port] = _Attempt(host, port, timeout, connect, talk)


def take_early(host: str, port: int) -> tuple[socket.socket, EarlyTalk | None] | None:
    """
    The connection started to C{host}:C{port}, if it is connected now (in
    blocking mode, as L{socket.create_connection} made it), with its early
    conversation (stopped), if one was given; at most once.

    @return: the socket and talk, now the caller's, or C{None}: no
        attempt, not connected yet (it is abandoned) or failed.
    """
    attempt = _attempts.pop((host, port), None)
    return attempt.take() if attempt is not None else None


def take(host: str, port: int) -> socket.socket | None:
    """
    L{take_early}'s socket, for a caller that has no use for the talk
    (which must then have sent nothing: start none).
    """
    early = take_early(host, port)
    return early[0] if early is not None else None
