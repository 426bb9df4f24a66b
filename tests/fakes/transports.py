# -*- test-case-name: tests.fakes.test_imapwire -*-
"""
In-memory transports for protocol unit tests.

Invariant: nothing here does real TLS or touches a socket; C{startTLS} is
recorded so tests can assert that, when, and with which context a protocol
asked for it.
"""

from __future__ import annotations

from twisted.internet.interfaces import ITLSTransport
from twisted.internet.testing import StringTransport
from zope.interface import implementer


@implementer(ITLSTransport)
class TLSRecordingTransport(StringTransport):
    """
    A L{StringTransport} that also provides L{ITLSTransport}.

    @ivar tls_starts: the context factories passed to C{startTLS}, in order.
    @ivar written_before_tls: what had been written when TLS first started
        (so tests can check nothing leaked after STARTTLS's OK).
    @ivar aborted: whether C{abortConnection} was called.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tls_starts: list[object] = []
        self.written_before_tls: bytes | None = None
        self.aborted = False

    @property
    def secure(self) -> bool:
        """
        Whether C{startTLS} has been called.
        """
        return bool(self.tls_starts)

    # ITLSTransport names the parameter in camelCase.
    def startTLS(self, contextFactory: object, normal: bool = True) -> None:  # noqa: N803
        """
        Record a request to start TLS; the byte stream stays plain.

        @param contextFactory: the client or server TLS options.
        @param normal: ignored, as by Twisted's own transports.
        """
        if self.written_before_tls is None:
            self.written_before_tls = self.value()
        self.tls_starts.append(contextFactory)

    def abortConnection(self) -> None:
        """
        Record an abort; like C{loseConnection}, but flagged.
        """
        self.aborted = True
        self.loseConnection()

    # The rest of ITCPTransport, which ITLSTransport extends.

    def loseWriteConnection(self) -> None:
        """
        Half-close: treated as a full close in memory.
        """
        self.loseConnection()

    def getTcpNoDelay(self) -> bool:
        """
        @return: C{False}; there is no TCP here.
        """
        return False

    def setTcpNoDelay(self, enabled: bool) -> None:
        """
        Ignored; there is no TCP here.
        """

    def getTcpKeepAlive(self) -> bool:
        """
        @return: C{False}; there is no TCP here.
        """
        return False

    def setTcpKeepAlive(self, enabled: bool) -> None:
        """
        Ignored; there is no TCP here.
        """
