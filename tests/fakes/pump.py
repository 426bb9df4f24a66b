# -*- test-case-name: tests.fakes.test_imapwire -*-
"""
Join a client protocol and a server protocol in memory, like an IOPump.

Invariants: bytes move only when the test calls L{IOPump.pump} or
L{IOPump.flush}, in the order they were written; data written before
C{loseConnection} is delivered before C{connectionLost}; each protocol gets
C{connectionLost} exactly once.
"""

from __future__ import annotations

from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IProtocol
from twisted.python.failure import Failure

from tests.fakes.transports import TLSRecordingTransport


class IOPump:
    """
    Moves bytes between two protocols through two L{TLSRecordingTransport}s.

    @ivar client: the client protocol.
    @ivar server: the server protocol.
    @ivar client_transport: the client's transport (what the client writes).
    @ivar server_transport: the server's transport.
    @ivar disconnected: whether both sides have been told the connection is lost.
    """

    def __init__(
        self,
        client: IProtocol,
        server: IProtocol,
        client_transport: TLSRecordingTransport,
        server_transport: TLSRecordingTransport,
    ) -> None:
        self.client = client
        self.server = server
        self.client_transport = client_transport
        self.server_transport = server_transport
        self.disconnected = False

    def pump(self) -> bool:
        """
        Deliver what each side has written so far, then any disconnection.

        @return: whether anything happened.
        """
        if self.disconnected:
            return False
        moved = False
        for source, destination in (
            (self.client_transport, self.server),
            (self.server_transport, self.client),
        ):
            data = source.value()
            if data:
                source.clear()
                destination.dataReceived(data)
                moved = True
        closing = self.client_transport.disconnecting or self.server_transport.disconnecting
        pending = self.client_transport.value() or self.server_transport.value()
        if closing and not pending:
            self._disconnect()
            return True
        return moved

    def flush(self, max_rounds: int = 100_000) -> None:
        """
        Pump until nothing moves.

        @param max_rounds: a bound against protocols that talk forever.
        @raise RuntimeError: if they are still talking after C{max_rounds}.
        """
        for _ in range(max_rounds):
            if not self.pump():
                return
        raise RuntimeError(f"still exchanging data after {max_rounds} rounds")

    def _disconnect(self) -> None:
        self.disconnected = True
        for transport, protocol, peer_transport in (
            (self.client_transport, self.client, self.server_transport),
            (self.server_transport, self.server, self.client_transport),
        ):
            reason: Exception
            if transport.aborted:
                reason = ConnectionAborted()
            elif peer_transport.aborted:
                reason = ConnectionLost("peer aborted the connection")
            else:
                reason = ConnectionDone()
            transport.connected = False
            protocol.connectionLost(Failure(reason))


def connect(client: IProtocol, server: IProtocol, flush: bool = True) -> IOPump:
    """
    Connect C{client} to C{server} in memory: the server first (so its
    greeting is queued), then the client.

    @param client: the client protocol.
    @param server: the server protocol.
    @param flush: whether to deliver the first exchanges right away.
    @return: the pump, to move further bytes.
    """
    server_transport = TLSRecordingTransport()
    client_transport = TLSRecordingTransport()
    server.makeConnection(server_transport)
    client.makeConnection(client_transport)
    pump = IOPump(client, server, client_transport, server_transport)
    if flush:
        pump.flush()
    return pump
