# -*- test-case-name: tests.imap.test_preconnect -*-
"""
TCP connections to plain IMAP servers opened before Twisted is loaded, so
that the connection and the server's greeting overlap the loading of
Twisted, the runner and the stores (a good part of a run's start-up; mbsync
connects at once), then handed to the reactor by L{msync.imap.endpoint}.

Invariants:
  - Only what L{start} is given: the CLI starts them for C{SSLType None}
    accounts with a C{Host} (no Tunnel, no TLS), and not with C{-V} or
    C{-D}, whose lines say when msync resolves and connects.
  - Nothing is sent: a connection only connects and holds what the server
    says first, which the IMAP protocol reads once it is adopted.
  - One attempt per host and port, in a daemon thread (name resolution
    and the connection block there, never the caller); C{Timeout} bounds
    it.
  - L{take} never waits: an attempt not connected by then is abandoned
    (its socket closed when it ends) and the caller connects as without
    it; a failed attempt says nothing (the caller's own attempt reports).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

__all__ = ["start", "take"]

Connect = Callable[[tuple[str, int], float | None], socket.socket]
"""Connects to (host, port) within a timeout (L{socket.create_connection})."""


class _Attempt:
    """
    One connection attempt, made by its own thread.

    @ivar connected: the socket, once connected and not yet taken.
    @ivar abandoned: taken (or given up): a later socket is closed.
    """

    def __init__(self, host: str, port: int, timeout: float | None, connect: Connect) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._connect = connect
        self._lock = threading.Lock()
        self.connected: socket.socket | None = None
        self.abandoned = False
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
        if made is not None:
            made.close()

    def take(self) -> socket.socket | None:
        """
        The connected socket if there is one now; the attempt is over.
        """
        with self._lock:
            self.abandoned = True
            taken, self.connected = self.connected, None
        return taken


_attempts: dict[tuple[str, int], _Attempt] = {}


def start(
    host: str,
    port: int,
    timeout: float | None = None,
    connect: Connect = socket.create_connection,
) -> None:
    """
    Start connecting to C{host}:C{port} (its addresses in the resolver's
    order, as L{socket.create_connection} tries them), unless an attempt
    was started already.

    @param timeout: bounds each address's connection, in seconds (C{None}:
        the system's).
    @param connect: makes the connection (replaceable for tests).
    """
    if (host, port) not in _attempts:
        _attempts[host, port] = _Attempt(host, port, timeout, connect)


def take(host: str, port: int) -> socket.socket | None:
    """
    The connection started to C{host}:C{port}, if it is connected now (in
    blocking mode, as L{socket.create_connection} made it); at most once.

    @return: the socket, now the caller's, or C{None}: no attempt, not
        connected yet (it is abandoned) or failed.
    """
    attempt = _attempts.pop((host, port), None)
    return attempt.take() if attempt is not None else None
