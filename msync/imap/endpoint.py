# -*- test-case-name: tests.imap.test_endpoint -*-
"""
How msync reaches an IMAP server: plain TCP (C{SSLType None} and
C{STARTTLS}), TLS from the first byte (C{IMAPS}, with
L{msync.imap.tls}) or a C{Tunnel} command.

Invariants:
  - A plain or STARTTLS connection loads no TLS code here (neither
    pyOpenSSL nor Twisted's endpoints, which load Twisted's TLS support):
    L{msync.imap.tls} is imported only for IMAPS, the Tunnel's process
    endpoint only for a Tunnel.
  - An IMAPS connection is handed to the IMAP protocol only once the
    handshake verified the server (L{msync.imap.tls}).
  - A connection made early (L{preconnect}, C{SSLType None} and
    C{STARTTLS}) is adopted only with a talk made for this very account
    (another account on the same server connects anew), whose
    conversation the IMAP protocol takes over; TLS started on it
    (STARTTLS) plays the client, as on a connection made here.
  - Errors: an unresolvable host or a refused connection is
    L{StoreUnavailable}, C{Timeout} expiring is L{ConnectionTimeout}, any TLS
    problem (bad settings, handshake, verification) is L{TLSError}; messages
    name the host and port (or the tunnel) like mbsync's do.
  - Time comes from the given reactor; nothing here blocks except reading the
    (small, local) certificate and key files named in the configuration.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import (
    ConnectError,
    ConnectingCancelledError,
    DNSLookupError,
)
from twisted.internet.interfaces import (
    IAddress,
    IConnector,
    IHostResolution,
    IProtocol,
    IProtocolFactory,
    IReactorSocket,
    IReactorThreads,
    IReactorTime,
    IResolutionReceiver,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import ClientFactory, Protocol, ServerFactory, connectionDone
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from msync.config.schema import IMAPAccount, SSLType
from msync.errors import ConnectionTimeout, StoreUnavailable, TLSError
from msync.imap import preconnect
from msync.imap.earlytalk import EarlyTalk
from msync.imap.protocol import IMAPClientProtocol
from msync.reactor import MailReactor

__all__ = ["connect", "describe"]

log = Logger()

_TUNNEL_SHELL = "/bin/sh"


def describe(account: IMAPAccount) -> str:
    """
    Name what an account connects to, for messages.

    @param account: the account.
    @return: C{host:port} (C{[v6]:port}), or C{tunnel 'command'}.
    """
    if account.tunnel is not None:
        return f"tunnel '{account.tunnel}'"
    host = account.host or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{account.port}"


def _verbose(text: str) -> None:
    """
    Log one of mbsync's C{-V} connection lines (C{Resolving ...},
    C{Connecting to ...}): the CLI shows events marked C{msync_verbose} as
    info messages.
    """
    log.info("{text}", text=text, msync_verbose=True)


def _tunnel_endpoint(reactor: MailReactor, tunnel: str) -> IStreamClientEndpoint:
    """
    The C{Tunnel} command's stdin/stdout.
    """
    # mbsync runs the Tunnel with popen-like "sh -c"; ssh & co. need the
    # user's environment (HOME, SSH_AUTH_SOCK, PATH).
    from twisted.internet.endpoints import ProcessEndpoint

    _verbose(f"Starting tunnel '{tunnel}'... ok")
    return ProcessEndpoint(
        reactor, _TUNNEL_SHELL, [_TUNNEL_SHELL, "-c", tunnel], env=dict(os.environ)
    )


@implementer(IResolutionReceiver)
class _Addresses:
    """
    Collects a name's addresses, in the resolver's order.

    @ivar done: fires with the addresses once resolution is complete.
    """

    def __init__(self) -> None:
        self.found: list[IAddress] = []
        self.done: Deferred[list[IAddress]] = Deferred()

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802 (Twisted's name)
        """
        Nothing to do until addresses arrive.
        """

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        """
        Keep one address.
        """
        self.found.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        """
        Hand over what was found.
        """
        self.done.callback(self.found)


def _address_text(address: IAddress) -> str:
    """
    An address as mbsync prints it: C{ip:port}, C{[ip6]:port}.
    """
    host, port = getattr(address, "host", "?"), getattr(address, "port", 0)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _resolve(
    reactor: MailReactor, host: str, port: int, isync15: bool = False
) -> list[IAddress]:
    """
    The addresses of C{host}, saying so as C{mbsync -V} does: isync 1.4
    resolves in place (C{Resolving host... ok}); isync 1.5 in a child
    process (C{Resolving host...}, and the other store opens meanwhile:
    the answer comes in a later turn of the reactor).

    @raise StoreUnavailable: when the name has no address.
    """
    if isync15:
        _verbose(f"Resolving {host}...")
        found = await _addresses(reactor, host, port)
        if not found:
            raise await _unresolvable(reactor, host)
        await deferLater(IReactorTime(reactor), 0, lambda: None)
        return found
    found = await _addresses(reactor, host, port)
    if not found:
        _verbose(f"Resolving {host}... ")
        raise await _unresolvable(reactor, host)
    _verbose(f"Resolving {host}... ok")
    return found


_getaddrinfo = socket.getaddrinfo
"""The lookup that gives the reason (replaced by tests: no network)."""


async def _unresolvable(reactor: MailReactor, host: str) -> StoreUnavailable:
    """
    mbsync's error for a host without address: C{Error: Cannot resolve
    server 'host': reason}, the reason being C{getaddrinfo}'s (Twisted's
    resolver does not keep it, so the name is asked again, in the
    reactor's thread pool; a reactor without one gives no reason).
    """
    reason = ""
    if IReactorThreads.providedBy(reactor):
        try:
            await deferToThreadPool(
                reactor,
                reactor.getThreadPool(),
                _getaddrinfo,
                host,
                None,
                socket.AF_UNSPEC,
                socket.SOCK_STREAM,
                0,
                socket.AI_ADDRCONFIG,
            )
        except OSError as error:  # socket.gaierror, with gai_strerror's text
            reason = f": {error.strerror}" if error.strerror else ""
    return StoreUnavailable(f"Error: Cannot resolve server '{host}'{reason}", temporary=True)


async def _addresses(reactor: MailReactor, host: str, port: int) -> list[IAddress]:
    """
    The addresses of C{host} (itself when it is an address), in the
    resolver's order.
    """
    if isIPv6Address(host):
        return [IPv6Address("TCP", host, port)]
    if isIPAddress(host):
        return [IPv4Address("TCP", host, port)]
    receiver = _Addresses()
    resolver = reactor.nameResolver
    resolver.resolveHostName(receiver, host, port)
    return await receiver.done


class _Handover(Protocol):
    """
    Stands between a plain TCP transport and the protocol built for it:
    connects the protocol when the connection is made (firing the attempt)
    and passes every later event on; it provides the protocol's interfaces
    (a STARTTLS layer tells it the handshake completed). What Twisted's
    endpoints do, without loading them: they load Twisted's TLS support.
    """

    def __init__(
        self, wrapped: IProtocol, connected: Deferred[IProtocol], *, adopted: bool = False
    ) -> None:
        """
        @param adopted: the transport is an adopted connection (L{_adopt}).
        """
        self._wrapped = wrapped
        self._connected = connected
        self._adopted = adopted
        directlyProvides(self, providedBy(wrapped))

    def logPrefix(self) -> str:
        prefix = getattr(self._wrapped, "logPrefix", None)
        return str(prefix()) if callable(prefix) else type(self._wrapped).__name__

    def connectionMade(self) -> None:
        if self._adopted:
            # Twisted makes an adopted connection its server side, and
            # STARTTLS on it would play the TLS server: msync is the client
            # (its creator verifies the server's certificate and name).
            setattr(self.transport, _TLS_CLIENT_ROLE, True)
        self._wrapped.makeConnection(self.transport)  # type: ignore[arg-type]  # set by makeConnection
        self._connected.callback(self._wrapped)

    def dataReceived(self, data: bytes) -> None:
        self._wrapped.dataReceived(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._wrapped.connectionLost(reason)

    def readConnectionLost(self) -> None:
        self._wrapped.readConnectionLost()  # type: ignore[attr-defined]  # IHalfCloseableProtocol

    def writeConnectionLost(self) -> None:
        self._wrapped.writeConnectionLost()  # type: ignore[attr-defined]  # IHalfCloseableProtocol

    def handshakeCompleted(self) -> None:
        self._wrapped.handshakeCompleted()  # type: ignore[attr-defined]  # IHandshakeListener


class _PlainAttempt(ClientFactory):
    """
    One plain TCP connection attempt; L{connected} fires with the built
    protocol once it is connected, or fails as the connection does
    (cancelling it stops the attempt: C{ConnectingCancelledError}).
    """

    def __init__(self, reactor: MailReactor, host: str, port: int, wrapped: IProtocolFactory):
        self._wrapped = wrapped
        self.connected: Deferred[IProtocol] = Deferred(self._cancel)
        # None: no per-attempt limit (BaseConnector accepts it; the stub
        # says float): Timeout bounds the whole setup (see connect).
        self._connector: IConnector = reactor.connectTCP(host, port, self, timeout=None)  # type: ignore[arg-type]

    def _cancel(self, connected: Deferred[IProtocol]) -> None:
        connected.errback(ConnectingCancelledError(self._connector.getDestination()))
        self._connector.stopConnecting()

    def doStart(self) -> None:
        self._wrapped.doStart()

    def doStop(self) -> None:
        self._wrapped.doStop()

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        assert addr is not None  # a connector always gives the peer
        try:
            protocol = self._wrapped.buildProtocol(addr)
        except BaseException:
            self.connected.errback()
            return None
        if protocol is None:
            self.connected.errback(ConnectError("the protocol factory built no protocol"))
            return None
        return _Handover(protocol, self.connected)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if not self.connected.called:
            self.connected.errback(reason)


class _Adoption(ServerFactory):
    """
    Builds the protocol of a connection made already (L{preconnect}), as
    L{_PlainAttempt} does for one it makes.
    """

    def __init__(
        self,
        wrapped: IProtocolFactory,
        connected: Deferred[IProtocol],
        talk: EarlyTalk | None = None,
    ) -> None:
        self._wrapped = wrapped
        self._connected = connected
        self._talk = talk

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:  # noqa: N802
        assert addr is not None  # an adopted connection has a peer
        protocol = self._wrapped.buildProtocol(addr)
        if protocol is None:
            self._connected.errback(ConnectError("the protocol factory built no protocol"))
            return None
        if self._talk is not None:
            if not isinstance(protocol, IMAPClientProtocol):
                self._connected.errback(
                    ConnectError("only the IMAP protocol takes an early conversation over")
                )
                return None
            # It goes on where the talk stopped (msync.imap.earlytalk).
            protocol.take_over(self._talk)
        return _Handover(protocol, self._connected, adopted=True)


#: The attribute by which Twisted's TCP transports say which side of TLS
#: they play (C{twisted.internet._newtls}: C{True} for the client).
_TLS_CLIENT_ROLE = "_tlsClientDefault"


def _tls_client_role_settable() -> bool:
    """
    Whether an adopted TCP connection can start TLS as the client (see
    L{_Handover.connectionMade}): Twisted's server transports say
    C{_tlsClientDefault = False}. If this Twisted does not, STARTTLS
    connections are not adopted (they would start TLS as the server, and
    fail).
    """
    from twisted.internet import tcp

    return getattr(tcp.Server, _TLS_CLIENT_ROLE, None) is False


def _adopt(
    reactor: MailReactor,
    early: socket.socket,
    protocol_factory: IProtocolFactory,
    talk: EarlyTalk | None = None,
) -> Deferred[IProtocol] | None:
    """
    Hand a connection L{preconnect} made to the reactor and build its
    protocol: what the server said meanwhile is read as if it came now;
    an early conversation (C{talk}) is taken over by the protocol.

    @return: fires with the protocol (at once), or C{None} when the reactor
        cannot adopt connections (the socket is closed: connect anew).
    """
    connected: Deferred[IProtocol] = Deferred()
    with early:
        if not IReactorSocket.providedBy(reactor):
            return None
        early.setblocking(False)
        # The reactor takes a duplicate of the descriptor; ours is closed.
        IReactorSocket(reactor).adoptStreamConnection(
            early.fileno(), early.family, _Adoption(protocol_factory, connected, talk)
        )
    return connected


#: Connects to one resolved address: (host, whether it is IPv6, factory).
_Attempt = Callable[[str, bool, IProtocolFactory], Deferred[IProtocol]]


async def _connect_tcp(
    reactor: MailReactor,
    account: IMAPAccount,
    attempt: _Attempt,
    protocol_factory: IProtocolFactory,
    isync15: bool = False,
) -> IProtocol:
    """
    Try the host's addresses in order, as mbsync does, each after its
    C{Connecting to host (ip:port)...} line.

    @raise StoreUnavailable: when no address accepts the connection (every
        failure named, then C{No working address found for host}).
    """
    assert account.host is not None
    failures: list[str] = []
    for address in await _resolve(reactor, account.host, account.port, isync15):
        where = f"{account.host} ({_address_text(address)})"
        _verbose(f"Connecting to {where}... ")
        # The resolved IPv4Address/IPv6Address has a host; IAddress does
        # not declare it.
        host: str = address.host  # type: ignore[attr-defined]
        try:
            return await attempt(host, isinstance(address, IPv6Address), protocol_factory)
        except ConnectError as error:
            failures.append(f"Cannot connect to {where}: {_connect_reason(error)}")
    failures.append(f"No working address found for {account.host}")
    raise StoreUnavailable("\n".join(failures), temporary=True)


async def _establish(
    reactor: MailReactor,
    account: IMAPAccount,
    protocol_factory: IProtocolFactory,
    isync15: bool = False,
) -> IProtocol:
    """
    Connect, and for IMAPS complete the verified handshake.
    """
    if account.tunnel is not None:
        if account.ssl_type is SSLType.IMAPS:
            raise TLSError(f"{describe(account)}: msync cannot do IMAPS over a Tunnel")
        return await _tunnel_endpoint(reactor, account.tunnel).connect(protocol_factory)
    if account.host is None:
        raise StoreUnavailable(f"Skipping account {account.name}, neither Host nor Tunnel given")
    if account.ssl_type is SSLType.NONE or (
        account.ssl_type is SSLType.STARTTLS and _tls_client_role_settable()
    ):
        early = preconnect.take_early(account.host, account.port)
        if early is not None and early[1] is not None and not early[1].made_for(account):
            # Another account's (on the same server): connect anew.
            early[0].close()
            early = None
        if early is not None:
            adopted = _adopt(reactor, early[0], protocol_factory, early[1])
            if adopted is not None:
                return await adopted
    if account.ssl_type is not SSLType.IMAPS:

        def plain(host: str, ipv6: bool, factory: IProtocolFactory) -> Deferred[IProtocol]:
            return _PlainAttempt(reactor, host, account.port, factory).connected

        return await _connect_tcp(reactor, account, plain, protocol_factory, isync15)
    from msync.imap.tls import IMAPSConnector

    imaps = IMAPSConnector(reactor, account, account.host)
    await _connect_tcp(reactor, account, imaps.attempt, protocol_factory, isync15)
    return await imaps.verified()


def _connect_reason(error: ConnectError) -> str:
    """
    The reason of a failed TCP connection, in the operating system's words
    (C{Connection refused}).
    """
    reason = error.args[0] if error.args and error.args[0] else None
    if reason is None and isinstance(error.osError, int):
        reason = os.strerror(error.osError)
    return str(reason or error)


async def _connect(
    reactor: MailReactor,
    account: IMAPAccount,
    protocol_factory: IProtocolFactory,
    isync15: bool = False,
) -> IProtocol:
    """
    L{_establish} within C{Timeout}, its failures turned into msync errors.
    """
    attempt = Deferred.fromCoroutine(_establish(reactor, account, protocol_factory, isync15))
    timed_out = False

    def expire() -> None:
        nonlocal timed_out
        timed_out = True
        attempt.cancel()

    timer = reactor.callLater(account.timeout, expire) if account.timeout > 0 else None
    try:
        return await attempt
    except (CancelledError, ConnectingCancelledError):
        if timed_out:
            raise ConnectionTimeout(
                f"Cannot connect to {describe(account)}: Connection timed out"
            ) from None
        # Cancelled by our caller.
        raise CancelledError() from None
    except DNSLookupError:
        raise StoreUnavailable(
            f"Error: Cannot resolve server '{account.host}'", temporary=True
        ) from None
    except ConnectError as error:
        # Only a Tunnel gets here: TCP failures are reported per address.
        raise StoreUnavailable(
            f"Cannot connect to {describe(account)}: {_connect_reason(error)}", temporary=True
        ) from None
    finally:
        if timer is not None and timer.active():
            timer.cancel()


def connect(
    reactor: MailReactor,
    account: IMAPAccount,
    protocol_factory: IProtocolFactory,
    *,
    isync15: bool = False,
) -> Deferred[IProtocol]:
    """
    Connect to an account's server and build its protocol.

    C{SSLType None} and C{STARTTLS} use TCP to C{Host}:C{Port} (the session
    does the STARTTLS upgrade with L{tls_context}); C{IMAPS} speaks TLS from
    the start and fires only once the server is verified; C{Tunnel} runs the
    command with C{/bin/sh -c} and speaks IMAP over its stdin/stdout (its
    stderr is logged). C{Timeout} (0 = none) bounds name resolution, the TCP
    connection and the TLS handshake together.

    @param reactor: connects (resolving C{Host}), runs C{Tunnel}, times.
    @param account: the account's settings.
    @param protocol_factory: builds the IMAP protocol.
    @param isync15: print C{-V}'s resolving line as isync 1.5 does.
    @return: fires with the connected protocol, or fails with
        L{StoreUnavailable} (C{Cannot resolve server 'host'}, C{Cannot
        connect to host:port: reason}), L{ConnectionTimeout} or L{TLSError};
        the IMAP store treats each as its server being unavailable.
    """
    return Deferred.fromCoroutine(_connect(reactor, account, protocol_factory, isync15))
