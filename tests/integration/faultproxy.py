# -*- test-case-name: tests.integration.test_faults -*-
"""
A fault-injecting TCP proxy for integration tests: it sits between msync
and the Dovecot fixture and, on the connection after a fault was armed,
cuts, resets or stalls it once a given number of bytes (both directions
together) has passed.

Invariants:
  - It listens on 127.0.0.1 only, on a free port, and forwards to one
    target address; everything runs in daemon threads that L{FaultProxy.close}
    stops (closing every socket) before returning.
  - An armed fault applies to exactly one connection (the next one
    accepted) and is then disarmed; other connections pass untouched.
  - Bytes are forwarded in order and counted exactly: a fault after C{n}
    bytes forwards exactly C{n} bytes first.
"""

from __future__ import annotations

import enum
import selectors
import socket
import struct
import threading
from dataclasses import dataclass

_HOST = "127.0.0.1"
_CHUNK = 16384


class FaultKind(enum.Enum):
    """
    What happens to the connection once the byte budget is spent.
    """

    #: Both sides see an orderly close (FIN).
    CUT = "cut"
    #: The client sees a TCP reset (SO_LINGER 0).
    RESET = "reset"
    #: Nothing more is forwarded; the sockets stay open until the client closes.
    STALL = "stall"


@dataclass(frozen=True, slots=True)
class Fault:
    """
    A fault to inject after C{after} bytes.
    """

    kind: FaultKind
    after: int


class FaultProxy:
    """
    See the module docstring.

    @ivar port: the port to connect to instead of the target's.
    @ivar last_bytes: bytes forwarded on the last connection that ended.
    @ivar faults_fired: how many armed faults actually fired.
    """

    def __init__(self, target_port: int, target_host: str = _HOST) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server((_HOST, 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.last_bytes = 0
        self.faults_fired = 0
        self._fault: Fault | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        accept = threading.Thread(target=self._accept_loop, daemon=True)
        self._threads.append(accept)
        accept.start()

    def arm(self, fault: Fault | None) -> None:
        """
        Apply C{fault} to the next connection (C{None}: disarm).
        """
        with self._lock:
            self._fault = fault

    def close(self) -> None:
        """
        Stop accepting, close every socket and wait for the threads.
        """
        self._closing.set()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                fault, self._fault = self._fault, None
            thread = threading.Thread(target=self._serve, args=(client, fault), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket, fault: Fault | None) -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._sockets.update((client, upstream))
        try:
            forwarded = self._pump(client, upstream, fault)
            self.last_bytes = forwarded
        finally:
            _close(client)
            _close(upstream)
            with self._lock:
                self._sockets.difference_update((client, upstream))

    def _pump(self, client: socket.socket, upstream: socket.socket, fault: Fault | None) -> int:
        """
        Forward both ways until a side closes or the fault fires.

        @return: the bytes forwarded.
        """
        peers = {client: upstream, upstream: client}
        budget = fault.after if fault is not None else None
        forwarded = 0
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                sock.setblocking(True)
                selector.register(sock, selectors.EVENT_READ)
            while not self._closing.is_set():
                if budget is not None and forwarded >= budget:
                    assert fault is not None
                    self._fire(fault, client, upstream, selector)
                    return forwarded
                for key, _ in selector.select(timeout=0.2):
                    ready = key.fileobj
                    assert isinstance(ready, socket.socket)
                    limit = _CHUNK if budget is None else max(1, min(_CHUNK, budget - forwarded))
                    try:
                        data = ready.recv(limit)
                    except OSError:
                        return forwarded
                    if not data:
                        return forwarded
                    try:
                        peers[ready].sendall(data)
                    except OSError:
                        return forwarded
                    forwarded += len(data)
                    if budget is not None and forwarded >= budget:
                        break
        return forwarded

    def _fire(
        self,
        fault: Fault,
        client: socket.socket,
        upstream: socket.socket,
        selector: selectors.BaseSelector,
    ) -> None:
        self.faults_fired += 1
        if fault.kind is FaultKind.RESET:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault.kind is FaultKind.STALL:
            # Hold everything until the client gives up (its Timeout).
            selector.unregister(upstream)
            while not self._closing.is_set():
                for key, _ in selector.select(timeout=0.2):
                    if key.fileobj is client:
                        try:
                            if not client.recv(_CHUNK):
                                return
                        except OSError:
                            return


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
