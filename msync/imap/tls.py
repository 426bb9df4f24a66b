# -*- test-case-name: tests.imap.test_endpoint -*-
"""
msync's TLS client: the TLS settings of an account (L{tls_context}), used
for STARTTLS by the session, and the verified IMAPS connection
(L{IMAPSConnector}) used by L{msync.imap.endpoint}. Imported only by runs
that use TLS: pyOpenSSL, cryptography, service_identity and Twisted's TLS
support are a good part of a plain run's start-up otherwise.

Invariants:
  - The server's certificate is always verified, never optionally: its chain
    must end in the system store (C{SystemCertificates yes}) or in a
    certificate of some C{CertificateFile} (a CA or the server's own, possibly
    self-signed, certificate: any certificate there is a trust anchor, as in
    mbsync), and it must name the configured C{Host} (service_identity rules).
    Unlike mbsync, a pinned certificate does not excuse a host name mismatch.
  - SSLv2 and SSLv3 are never offered, whatever C{SSLVersions} says.
  - An IMAPS connection is handed to the IMAP protocol only once the
    handshake verified the server: the protocol never sees a byte from, nor
    writes one to, an unverified peer. There is no plaintext fallback.
  - Any TLS problem (bad settings, handshake, verification) is L{TLSError},
    naming the host and port like mbsync's messages do.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Callable

from cryptography import x509
from OpenSSL import SSL
from OpenSSL.crypto import X509, X509StoreFlags
from service_identity import CertificateError, VerificationError
from service_identity.hazmat import (
    DNS_ID,
    CertificatePattern,
    DNSPattern,
    IPAddress_ID,
    IPAddressPattern,
    ServiceID,
    verify_service_identity,
)
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import (
    IAddress,
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from msync.config.schema import IMAPAccount, TLSVersion
from msync.errors import TLSError
from msync.reactor import MailReactor

__all__ = ["IMAPSConnector", "TLSClientCreator", "tls_context"]

# SSLVersions word → (OpenSSL protocol version, option excluding it), oldest
# first. SSLv3 is absent on purpose: mbsync refuses it too.
_VERSIONS: dict[TLSVersion, tuple[int, int]] = {
    TLSVersion.TLSV1: (SSL.TLS1_VERSION, SSL.OP_NO_TLSv1),
    TLSVersion.TLSV1_1: (SSL.TLS1_1_VERSION, SSL.OP_NO_TLSv1_1),
    TLSVersion.TLSV1_2: (SSL.TLS1_2_VERSION, SSL.OP_NO_TLSv1_2),
    TLSVersion.TLSV1_3: (SSL.TLS1_3_VERSION, SSL.OP_NO_TLSv1_3),
}

# X509_verify_cert_error_string() for the codes a misconfigured server or
# CertificateFile produces; pyOpenSSL offers no public way to ask OpenSSL.
_VERIFY_ERRORS: dict[int, str] = {
    2: "unable to get issuer certificate",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    23: "certificate revoked",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
}

# The verify errors that mean "no trust anchor for this chain".
_NO_ANCHOR = frozenset({2, 18, 19, 20, 21})


def _openssl_reason(error: SSL.Error) -> str:
    """
    The reason strings of an OpenSSL error queue, or the error's text.
    """
    queue = error.args[0] if error.args else None
    if isinstance(queue, list):
        reasons = [entry[2] for entry in queue if isinstance(entry, tuple) and entry[2:3]]
        if reasons:
            return "; ".join(str(reason) for reason in reasons)
    return str(error) or type(error).__name__


def _is_ip_address(hostname: str) -> bool:
    """
    Whether C{hostname} is an IPv4 or IPv6 address literal.
    """
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _alt_names(
    certificate: x509.Certificate,
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """
    The DNS names and the IP addresses in a certificate's subjectAltName.
    """
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    addresses = [
        address
        for address in names.get_values_for_type(x509.IPAddress)
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]
    return names.get_values_for_type(x509.DNSName), addresses


def _identity_patterns(certificate: x509.Certificate) -> list[CertificatePattern]:
    """
    The subjectAltName patterns service_identity matches host names against.

    Unlike C{service_identity.cryptography.extract_patterns}, a malformed
    DNS name does not reject the whole certificate: self-signed certificates
    made for mbsync 1.4 (which matches hosts against DNS names only) often
    carry an IP address as a DNS name, next to the proper IP entry. Such a
    name is skipped; it could never match a DNS host name anyway.
    """
    dns_names, addresses = _alt_names(certificate)
    patterns: list[CertificatePattern] = []
    for name in dns_names:
        try:
            patterns.append(DNSPattern.from_bytes(name.encode("utf-8")))
        except CertificateError:
            continue
    patterns += [IPAddressPattern(pattern=address) for address in addresses]
    return patterns


def _service_id(hostname: str) -> ServiceID:
    """
    What the certificate must be for: an IP address or a DNS name.

    @raise TLSError: if C{hostname} is neither.
    """
    try:
        return IPAddress_ID(hostname) if _is_ip_address(hostname) else DNS_ID(hostname)
    except (ValueError, ImportError) as error:
        raise TLSError(f"cannot check certificates for host name '{hostname}': {error}") from None


@implementer(IOpenSSLClientConnectionCreator)
class TLSClientCreator:
    """
    Creates the client side of a verified TLS connection to one host; what
    L{tls_context} returns and what C{startTLS} and C{wrapClientTLS} take.

    Verification (chain, then host name) happens in OpenSSL's verify
    callback, so a refused server fails the handshake itself. What was wrong
    is remembered for L{error_for}; use one creator per connection.

    @ivar hostname: the name (or IP address) the certificate must be for.
    @ivar where: what is being connected to, for messages.
    """

    def __init__(self, context: SSL.Context, hostname: str, where: str) -> None:
        """
        @param context: a client context with trust anchors, versions,
            ciphers and client certificate already set.
        @param hostname: the configured C{Host}.
        @param where: e.g. C{imap.example.org:993}.
        """
        self.hostname = hostname
        self.where = where
        self._context = context
        self._is_ip = _is_ip_address(hostname)
        self._service_id = _service_id(hostname)
        self._problem: str | None = None
        self._started = False
        self._handshake_done = False
        context.set_info_callback(self._info)

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:  # noqa: N803
        """
        Make the OpenSSL connection for one TLS session.

        @param tlsProtocol: the TLS protocol that will drive it (unused;
            Twisted sets itself as the connection's app data).
        @return: a connection that verifies the server and sends SNI.
        """
        connection = SSL.Connection(self._context, None)
        if not self._is_ip:
            # RFC 6066 §3: SNI carries DNS names only, never IP literals.
            connection.set_tlsext_host_name(self.hostname.encode("idna"))
        self._problem = None
        self._started, self._handshake_done = True, False
        connection.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, self._verify)
        return connection

    def _verify(
        self, connection: SSL.Connection, certificate: X509, error: int, depth: int, ok: int
    ) -> bool:
        """
        OpenSSL's per-certificate verify callback: keep OpenSSL's verdict on
        the chain, then check the host name on the server's own certificate.
        It must not raise: OpenSSL would lose the reason.
        """
        if not ok:
            reason = _VERIFY_ERRORS.get(error, f"verify error {error}")
            if error in _NO_ANCHOR:
                self._problem = (
                    f"server certificate is not trusted ({reason}): neither the system"
                    " store (SystemCertificates) nor any CertificateFile vouches for it"
                )
            else:
                self._problem = f"server certificate refused ({reason})"
            return False
        if depth == 0:
            leaf = certificate.to_cryptography()
            try:
                verify_service_identity(_identity_patterns(leaf), [self._service_id], [])
            except (VerificationError, CertificateError):
                dns_names, addresses = _alt_names(leaf)
                if self._is_ip and self.hostname in dns_names:
                    # mbsync 1.4 matches even an IP address Host against the
                    # certificate's DNS names; certificates made for it
                    # often carry the address only that way.
                    return True
                all_names = dns_names + [str(address) for address in addresses]
                names = ", ".join(dict.fromkeys(all_names)) or "no host"
                self._problem = (
                    f"server certificate does not match host name '{self.hostname}'"
                    f" (it is for {names})"
                )
                return False
        return True

    def _info(self, connection: SSL.Connection, where: int, ret: int) -> None:
        """
        OpenSSL's state callback: note when the handshake has completed.
        """
        if where & SSL.SSL_CB_HANDSHAKE_DONE:
            self._handshake_done = True

    def error_for(self, reason: Failure | BaseException | None) -> TLSError | None:
        """
        Explain why a connection using this creator failed, if TLS is to
        blame. Call it with the reason the connection was lost.

        @param reason: what ended the connection (as C{connectionLost} got it).
        @return: a L{TLSError} naming the verification problem, the OpenSSL
            error, or the interrupted handshake; C{None} if TLS is not to
            blame (it had not started, or had completed without complaint).
        """
        if isinstance(reason, Failure):
            reason = reason.value
        if self._problem is not None:
            text = self._problem
        elif isinstance(reason, SSL.Error):
            text = _openssl_reason(reason)
        elif self._started and not self._handshake_done:
            what = "connection closed" if isinstance(reason, ConnectionClosed | None) else reason
            text = f"{what} during the TLS handshake"
        else:
            return None
        return TLSError(f"SSL error connecting {self.where}: {text}")


def _no_passphrase(max_length: int, verify: bool, extra: object) -> bytes:
    """
    Passphrase callback: an encrypted key cannot be unlocked without
    prompting, which would block the reactor, so it fails to load instead.
    """
    return b""


def _restrict_versions(context: SSL.Context, account: IMAPAccount) -> None:
    """
    Offer exactly the C{SSLVersions} of the account (minus SSLv3).

    @raise TLSError: if no TLS version is left.
    """
    allowed = [version for version in _VERSIONS if version in account.ssl_versions]
    if not allowed:
        raise TLSError(f"account {account.name}: SSLVersions allows no TLS version")
    context.set_min_proto_version(_VERSIONS[allowed[0]][0])
    context.set_max_proto_version(_VERSIONS[allowed[-1]][0])
    # mbsync 1.4 takes any subset (e.g. TLSv1 TLSv1.2): exclude the gaps too.
    ordered = list(_VERSIONS)
    for version in ordered[ordered.index(allowed[0]) : ordered.index(allowed[-1])]:
        if version not in allowed:
            context.set_options(_VERSIONS[version][1])


def _load(what: str, path: str, load: Callable[[str], object]) -> None:
    """
    Load one configured file into the context, turning failures into a
    L{TLSError} naming it (mbsync: C{Error while loading ... 'path': ...}).
    """
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise TLSError(f"Error while loading {what} '{path}': {error.strerror or error}") from None
    try:
        load(path)
    except SSL.Error as error:
        raise TLSError(f"Error while loading {what} '{path}': {_openssl_reason(error)}") from None


def _trust(context: SSL.Context, account: IMAPAccount) -> None:
    """
    Trust the system store (if configured) and every C{CertificateFile}.
    """
    if account.system_certificates:
        context.set_default_verify_paths()
    for path in account.certificate_files:
        _load("certificate file", path, context.load_verify_locations)
    if account.certificate_files:
        store = context.get_cert_store()
        assert store is not None  # a client context always has one
        # mbsync trusts a server certificate found in CertificateFile even
        # when OpenSSL cannot chain it to a self-signed root: make every
        # certificate in the store an anchor.
        store.set_flags(X509StoreFlags.PARTIAL_CHAIN)


def _client_certificate(context: SSL.Context, account: IMAPAccount) -> None:
    """
    Present C{ClientCertificate} (with its chain) and C{ClientKey}; the key
    defaults to the certificate file, which then holds both.
    """
    certificate, key = account.client_certificate, account.client_key
    if certificate is None:
        if key is not None:
            raise TLSError(f"account {account.name}: ClientKey '{key}' needs a ClientCertificate")
        return
    key = key or certificate
    _load("client certificate file", certificate, context.use_certificate_chain_file)
    with warnings.catch_warnings():
        # pyOpenSSL deprecates the passphrase callback in favour of loading
        # the key with cryptography; OpenSSL's own loading is what gives
        # mbsync's error reasons, so keep it and silence only this warning.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.set_passwd_cb(_no_passphrase)
    _load("client private key", key, context.use_privatekey_file)
    try:
        # OpenSSL checks the pair while loading; older versions only here.
        context.check_privatekey()
    except SSL.Error:
        raise TLSError(
            f"Error while loading client private key '{key}': key values mismatch"
        ) from None


def tls_context(account: IMAPAccount, hostname: str) -> TLSClientCreator:
    """
    Build the TLS client settings of an account, for IMAPS or STARTTLS
    (C{protocol.transport.startTLS(tls_context(account, host))}).

    @param account: supplies C{SSLVersions}, C{SystemCertificates},
        C{CertificateFile}, C{ClientCertificate}, C{ClientKey} and
        C{CipherString}.
    @param hostname: the name the server's certificate must be for.
    @return: a fresh creator; use it for one connection.
    @raise TLSError: if a file cannot be loaded (the message names it), the
        key does not match the certificate, C{CipherString} selects nothing,
        C{SSLVersions} leaves no usable version, or C{hostname} is neither a
        valid DNS name nor an IP address.
    """
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    # CRIME: never compress under TLS.
    context.set_options(SSL.OP_NO_COMPRESSION)
    _restrict_versions(context, account)
    if account.cipher_string is not None:
        try:
            context.set_cipher_list(account.cipher_string.encode("ascii", "replace"))
        except SSL.Error as error:
            raise TLSError(
                f"account {account.name}: CipherString '{account.cipher_string}'"
                f" selects no usable cipher ({_openssl_reason(error)})"
            ) from None
    _trust(context, account)
    _client_certificate(context, account)
    context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
    port = account.port
    where = f"[{hostname}]:{port}" if ":" in hostname else f"{hostname}:{port}"
    return TLSClientCreator(context, hostname, where)


@implementer(IHandshakeListener)
class _HandshakeGate(Protocol):
    """
    Stands in for the IMAP protocol under the TLS layer until the handshake
    has verified the server; then puts the IMAP protocol in its place, so the
    IMAP protocol's transport is the TLS transport itself.

    @ivar verified: fires with the connected IMAP protocol, or fails with a
        L{TLSError}; cancelling it aborts the connection.
    """

    def __init__(self, protocol: IProtocol, creator: TLSClientCreator) -> None:
        self._protocol = protocol
        self._creator = creator
        self.verified: Deferred[IProtocol] = Deferred(self._abort)

    def handshakeCompleted(self) -> None:
        """
        The server is verified: hand the TLS transport to the IMAP protocol.
        """
        tls = self.transport
        assert isinstance(tls, TLSMemoryBIOProtocol)
        tls.wrappedProtocol = self._protocol
        self._protocol.makeConnection(tls)
        if IHandshakeListener.providedBy(self._protocol):
            self._protocol.handshakeCompleted()
        self.verified.callback(self._protocol)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        The connection ended before the handshake did: TLS setup failed.
        """
        if self.verified.called:
            return
        error = self._creator.error_for(reason) or TLSError(
            f"SSL error connecting {self._creator.where}: connection closed before the TLS handshake"
        )
        self.verified.errback(error)

    def _abort(self, verified: Deferred[IProtocol]) -> None:
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]  # TLS transports have it


@implementer(IProtocolFactory)
class _GateFactory:
    """
    Builds the IMAP protocol of one IMAPS connection behind a
    L{_HandshakeGate}.

    @ivar gate: the gate, once built.
    """

    def __init__(self, wrapped: IProtocolFactory, creator: TLSClientCreator) -> None:
        self._wrapped = wrapped
        self._creator = creator
        self.gate: _HandshakeGate | None = None

    def doStart(self) -> None:
        """
        Start the IMAP protocol's factory too.
        """
        self._wrapped.doStart()

    def doStop(self) -> None:
        """
        Stop the IMAP protocol's factory too.
        """
        self._wrapped.doStop()

    def buildProtocol(self, addr: IAddress) -> IProtocol | None:
        """
        Build the IMAP protocol and its gate.
        """
        protocol = self._wrapped.buildProtocol(addr)
        if protocol is None:
            return None
        self.gate = _HandshakeGate(protocol, self._creator)
        return self.gate


class IMAPSConnector:
    """
    Verified IMAPS connections to one host, one address at a time (what
    L{msync.imap.endpoint} tries in turn).

    @ivar gates: the handshake gates' factory of the latest attempt.
    """

    def __init__(self, reactor: MailReactor, account: IMAPAccount, host: str) -> None:
        """
        @raise TLSError: the account's TLS settings are unusable (checked
            before any connection is made).
        """
        self._reactor = reactor
        self._port = account.port
        self._creator = tls_context(account, host)
        self._gates: _GateFactory | None = None

    def attempt(
        self, address: str, ipv6: bool, protocol_factory: IProtocolFactory
    ) -> Deferred[IProtocol]:
        """
        Connect TCP to one address and start the TLS handshake over it.
        """
        endpoint_type = TCP6ClientEndpoint if ipv6 else TCP4ClientEndpoint
        # No per-attempt timeout: Timeout bounds the whole setup (see
        # endpoint.connect); BaseConnector accepts None, the stub says int.
        tcp = endpoint_type(self._reactor, address, self._port, timeout=None)  # type: ignore[arg-type]
        tls = wrapClientTLS(self._creator, tcp, clock=IReactorTime(self._reactor))
        self._gates = _GateFactory(protocol_factory, self._creator)
        return tls.connect(self._gates)

    async def verified(self) -> IProtocol:
        """
        The IMAP protocol of the connection made, once its handshake
        verified the server.

        @raise TLSError: it did not.
        """
        assert self._gates is not None and self._gates.gate is not None
        return await self._gates.gate.verified
