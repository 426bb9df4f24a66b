# -*- test-case-name: tests.imap.test_endpoint -*-
"""
Tests for L{msync.imap.endpoint}.

L{tls_context} is tested with real OpenSSL handshakes between its client
connection and a server connection, both over memory BIOs, using
certificates generated per test. L{connect} is tested on a
L{MemoryReactorClock}: which host, port and endpoint each C{SSLType} uses,
the C{Timeout}, the error messages, and IMAPS with a Twisted TLS server
pumped in memory, proving the IMAP protocol is connected only after the
server has been verified.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from OpenSSL.crypto import X509, PKey
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionDone, getConnectError
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IProcessProtocol,
    IProcessTransport,
    IProtocol,
    IResolutionReceiver,
    ISSLTransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from msync.config.schema import IMAPAccount, SSLType, TLSVersion
from msync.errors import ConnectionTimeout, StoreUnavailable, TLSError
from msync.imap import endpoint as endpoint_module
from msync.imap import preconnect
from msync.imap.earlytalk import EarlyTalk
from msync.imap.endpoint import connect, describe
from msync.imap.protocol import IMAPClientProtocol
from msync.imap.tls import TLSClientCreator, tls_context
from msync.model import Secret
from tests.fakes.clocks import FakeMailReactor

HOST = "imap.example.org"
ADDRESS = "192.0.2.7"


# Certificates ---------------------------------------------------------------


@dataclass(frozen=True)
class _Issued:
    """
    A generated certificate, its key, and their PEM files.
    """

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: str
    key_path: str


class _PKI:
    """
    Issues certificates into one directory.
    """

    def __init__(self, directory: str) -> None:
        os.makedirs(directory)
        self.directory = directory

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def write(self, name: str, data: bytes) -> str:
        path = self.path(name)
        with open(path, "wb") as file:
            file.write(data)
        return path

    def issue(
        self,
        name: str,
        *,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        issuer: _Issued | None = None,
        ca: bool = False,
        expired: bool = False,
    ) -> _Issued:
        """
        Make a certificate for CN C{name}, self-signed unless C{issuer}.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        start, end = (
            (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
            if expired
            else (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.certificate.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        alt_names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
        cert_path = self.write(name + ".crt", certificate.public_bytes(serialization.Encoding.PEM))
        key_path = self.write(name + ".key", _key_pem(key))
        return _Issued(certificate, key, cert_path, key_path)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    """
    A private key in PKCS#8 PEM, encrypted with C{password} if given.
    """
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _account(**options: Any) -> IMAPAccount:
    """
    An IMAPS account for L{HOST}, port 993, unless C{options} say otherwise.
    """
    settings: dict[str, Any] = {"host": HOST, "port": 993, "ssl_type": SSLType.IMAPS}
    settings.update(options)
    return IMAPAccount(name="acct", **settings)


# Raw OpenSSL handshakes -----------------------------------------------------


def _server_context(
    server: _Issued,
    *,
    chain: Sequence[_Issued] = (),
    max_version: int | None = None,
    client_ca: _Issued | None = None,
) -> SSL.Context:
    """
    A server context presenting C{server}; requiring a client certificate
    issued by C{client_ca} if given.
    """
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate(X509.from_cryptography(server.certificate))
    context.use_privatekey(PKey.from_cryptography_key(server.key))
    for extra in chain:
        context.add_extra_chain_cert(X509.from_cryptography(extra.certificate))
    if max_version is not None:
        context.set_max_proto_version(max_version)
    if client_ca is not None:
        store = context.get_cert_store()
        assert store is not None
        store.add_cert(X509.from_cryptography(client_ca.certificate))
        context.set_verify(
            SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: bool(args[-1])
        )
    return context


def _shuttle(source: SSL.Connection, target: SSL.Connection) -> bool:
    """
    Move pending TLS bytes from C{source} to C{target}; whether any moved.
    """
    try:
        data = source.bio_read(65536)
    except SSL.WantReadError:
        return False
    target.bio_write(data)
    return True


def _handshake(
    creator: TLSClientCreator, server_context: SSL.Context
) -> tuple[SSL.Connection, SSL.Connection]:
    """
    Run a full handshake between C{creator}'s client connection and a server
    connection over memory BIOs.

    @raise SSL.Error: as raised by either side.
    """
    client = creator.clientConnectionForTLS(None)
    client.set_connect_state()
    server = SSL.Connection(server_context, None)
    server.set_accept_state()
    for _ in range(20):
        for connection in (client, server):
            try:
                connection.do_handshake()
            except SSL.WantReadError:
                pass
        if not (_shuttle(client, server) | _shuttle(server, client)):
            break
    return client, server


class TLSContextTests(SynchronousTestCase):
    """
    L{tls_context}: trust, host names, versions, ciphers, client
    certificates and file errors, proven by real handshakes.
    """

    def setUp(self) -> None:
        self.pki = _PKI(self.mktemp())
        self.server = self.pki.issue(HOST, dns=[HOST])

    def assert_refused(self, account: IMAPAccount, server_context: SSL.Context) -> str:
        """
        The handshake fails on the client; return L{TLSClientCreator.error_for}'s message.
        """
        creator = tls_context(account, HOST)
        error = self.assertRaises(SSL.Error, _handshake, creator, server_context)
        described = creator.error_for(error)
        assert described is not None
        self.assertIsInstance(described, TLSError)
        return str(described)

    def test_certificate_file_trusts_self_signed(self) -> None:
        """
        A self-signed server certificate in C{CertificateFile} is trusted,
        and the host name goes out as SNI.
        """
        account = _account(certificate_files=(self.server.cert_path,))
        client, server = _handshake(tls_context(account, HOST), _server_context(self.server))
        self.assertEqual(client.get_peer_certificate(as_cryptography=True), self.server.certificate)
        self.assertEqual(server.get_servername(), HOST.encode())

    def test_ip_address_host(self) -> None:
        """
        An IP address host is checked against IP subjectAltNames and sent
        without SNI; a CA-issued certificate for another address is refused.
        """
        ca = self.pki.issue("Test CA", ca=True)
        ip_server = self.pki.issue("ip", ips=["127.0.0.1"], issuer=ca)
        account = _account(host="127.0.0.1", certificate_files=(ca.cert_path,))
        client, server = _handshake(tls_context(account, "127.0.0.1"), _server_context(ip_server))
        self.assertIsNone(server.get_servername())
        message = self.assert_refused(
            _account(host="127.0.0.2", certificate_files=(ca.cert_path,)),
            _server_context(ip_server),
        )
        self.assertIn("does not match host name", message)

    def test_untrusted_refused(self) -> None:
        """
        A self-signed certificate outside every trust store is refused with
        a message saying why.
        """
        message = self.assert_refused(_account(), _server_context(self.server))
        self.assertEqual(
            message,
            f"SSL error connecting {HOST}:993: server certificate is not trusted"
            " (self-signed certificate): neither the system store"
            " (SystemCertificates) nor any CertificateFile vouches for it",
        )

    def test_other_host_refused(self) -> None:
        """
        A certificate for another host name, trusted through its CA, is
        refused with both names in the message.
        """
        ca = self.pki.issue("Test CA", ca=True)
        other = self.pki.issue("other.example.org", dns=["other.example.org"], issuer=ca)
        account = _account(certificate_files=(ca.cert_path,))
        message = self.assert_refused(account, _server_context(other))
        self.assertEqual(
            message,
            f"SSL error connecting {HOST}:993: server certificate does not match host name"
            f" '{HOST}' (it is for other.example.org)",
        )

    def test_pinned_certificate_still_needs_the_name(self) -> None:
        """
        As in mbsync 1.4.4 ("certificate owner does not match hostname"),
        the server's own certificate listed verbatim in C{CertificateFile}
        must still name the host.
        """
        other = self.pki.issue("other.example.org", dns=["other.example.org"])
        message = self.assert_refused(
            _account(certificate_files=(other.cert_path,)), _server_context(other)
        )
        self.assertIn(f"does not match host name '{HOST}'", message)

    def test_ip_address_also_as_dns_name(self) -> None:
        """
        A certificate naming the IP address of an IP host only as a DNS name
        (as certificates made for mbsync 1.4 do) is accepted, as mbsync
        accepts it; another address in a DNS name is not.
        """
        ca = self.pki.issue("Test CA", ca=True)
        both = self.pki.issue("both", dns=["localhost", "127.0.0.1"], ips=["127.0.0.1"], issuer=ca)
        account = _account(host="127.0.0.1", certificate_files=(ca.cert_path,))
        _handshake(tls_context(account, "127.0.0.1"), _server_context(both))
        dns_only = self.pki.issue("dns-only", dns=["127.0.0.1"], issuer=ca)
        _handshake(tls_context(account, "127.0.0.1"), _server_context(dns_only))
        creator = tls_context(
            _account(host="127.0.0.2", certificate_files=(ca.cert_path,)), "127.0.0.2"
        )
        error = self.assertRaises(SSL.Error, _handshake, creator, _server_context(dns_only))
        self.assertIn("(it is for 127.0.0.1)", str(creator.error_for(error)))

    def test_invalid_host_name(self) -> None:
        """
        A host name that is neither a DNS name nor an IP address cannot be
        checked: L{TLSError}.
        """
        error = self.assertRaises(TLSError, tls_context, _account(), "bad host!")
        self.assertIn("cannot check certificates for host name 'bad host!'", str(error))

    def test_certificate_without_names_refused(self) -> None:
        """
        A CA-issued certificate without subjectAltName names no host.
        """
        ca = self.pki.issue("Test CA", ca=True)
        bare = self.pki.issue(HOST, issuer=ca)
        message = self.assert_refused(
            _account(certificate_files=(ca.cert_path,)), _server_context(bare)
        )
        self.assertIn(f"does not match host name '{HOST}' (it is for no host)", message)

    def test_ca_in_certificate_file(self) -> None:
        """
        A CA certificate in C{CertificateFile} trusts what it issued.
        """
        ca = self.pki.issue("Test CA", ca=True)
        leaf = self.pki.issue("leaf", dns=[HOST], issuer=ca)
        account = _account(certificate_files=(ca.cert_path,), system_certificates=False)
        _handshake(tls_context(account, HOST), _server_context(leaf))

    def test_host_certificate_without_its_ca(self) -> None:
        """
        Like mbsync, the server's own CA-issued certificate in
        C{CertificateFile} is trusted without the CA.
        """
        ca = self.pki.issue("Test CA", ca=True)
        leaf = self.pki.issue("leaf", dns=[HOST], issuer=ca)
        account = _account(certificate_files=(leaf.cert_path,), system_certificates=False)
        _handshake(tls_context(account, HOST), _server_context(leaf))

    def test_several_certificate_files(self) -> None:
        """
        Every C{CertificateFile} is trusted, not just the last.
        """
        other = self.pki.issue("other", dns=["other.example.org"])
        account = _account(certificate_files=(self.server.cert_path, other.cert_path))
        _handshake(tls_context(account, HOST), _server_context(self.server))
        _handshake(tls_context(account, "other.example.org"), _server_context(other))

    def test_unknown_issuer_refused(self) -> None:
        """
        A certificate from an unknown CA is refused.
        """
        ca = self.pki.issue("Test CA", ca=True)
        leaf = self.pki.issue("leaf", dns=[HOST], issuer=ca)
        message = self.assert_refused(
            _account(system_certificates=False), _server_context(leaf, chain=[ca])
        )
        self.assertIn("not trusted (self-signed certificate in certificate chain)", message)
        message = self.assert_refused(_account(system_certificates=False), _server_context(leaf))
        self.assertIn("not trusted (unable to get local issuer certificate)", message)

    def test_expired_refused(self) -> None:
        """
        An expired certificate is refused even when pinned.
        """
        old = self.pki.issue("old", dns=[HOST], expired=True)
        message = self.assert_refused(
            _account(certificate_files=(old.cert_path,)), _server_context(old)
        )
        self.assertIn("server certificate refused (certificate has expired)", message)

    def test_versions(self) -> None:
        """
        C{SSLVersions} bounds the negotiated version; a server offering none
        of them is refused with OpenSSL's reason.
        """
        trusted = _account(certificate_files=(self.server.cert_path,))
        client, _ = _handshake(tls_context(trusted, HOST), _server_context(self.server))
        self.assertEqual(client.get_protocol_version_name(), "TLSv1.3")
        only_12 = replace(trusted, ssl_versions=frozenset({TLSVersion.TLSV1_2}))
        client, _ = _handshake(tls_context(only_12, HOST), _server_context(self.server))
        self.assertEqual(client.get_protocol_version_name(), "TLSv1.2")
        only_13 = replace(trusted, ssl_versions=frozenset({TLSVersion.TLSV1_3}))
        old_server = _server_context(self.server, max_version=SSL.TLS1_2_VERSION)
        message = self.assert_refused(only_13, old_server)
        self.assertTrue(message.startswith(f"SSL error connecting {HOST}:993: "), message)
        self.assertNotIn("certificate", message)
        # mbsync takes any subset: a version between two allowed ones is off.
        with_gap = replace(
            trusted, ssl_versions=frozenset({TLSVersion.TLSV1_1, TLSVersion.TLSV1_3})
        )
        self.assert_refused(with_gap, old_server)
        no_gap = replace(with_gap, ssl_versions=with_gap.ssl_versions | {TLSVersion.TLSV1_2})
        client, _ = _handshake(tls_context(no_gap, HOST), old_server)
        self.assertEqual(client.get_protocol_version_name(), "TLSv1.2")

    def test_no_usable_version(self) -> None:
        """
        SSLv3 is never offered: C{SSLVersions SSLv3} leaves nothing.
        """
        account = _account(ssl_versions=frozenset({TLSVersion.SSLV3}))
        error = self.assertRaises(TLSError, tls_context, account, HOST)
        self.assertEqual(str(error), "account acct: SSLVersions allows no TLS version")

    def test_cipher_string(self) -> None:
        """
        C{CipherString} selects the TLS 1.2 ciphers; one matching nothing is
        an error naming it.
        """
        account = _account(
            certificate_files=(self.server.cert_path,),
            ssl_versions=frozenset({TLSVersion.TLSV1_2}),
            cipher_string="ECDHE-ECDSA-AES128-GCM-SHA256",
        )
        client, _ = _handshake(tls_context(account, HOST), _server_context(self.server))
        self.assertEqual(client.get_cipher_name(), "ECDHE-ECDSA-AES128-GCM-SHA256")
        error = self.assertRaises(
            TLSError, tls_context, replace(account, cipher_string="NO-SUCH-CIPHER"), HOST
        )
        self.assertIn("CipherString 'NO-SUCH-CIPHER' selects no usable cipher", str(error))

    def test_client_certificate(self) -> None:
        """
        C{ClientCertificate} and C{ClientKey} are presented to a server that
        asks; a file holding both needs no C{ClientKey}.
        """
        client_ca = self.pki.issue("Client CA", ca=True)
        me = self.pki.issue("me", issuer=client_ca)
        server_context = _server_context(self.server, client_ca=client_ca)
        account = _account(
            certificate_files=(self.server.cert_path,),
            client_certificate=me.cert_path,
            client_key=me.key_path,
        )
        _, server = _handshake(tls_context(account, HOST), server_context)
        self.assertEqual(server.get_peer_certificate(as_cryptography=True), me.certificate)
        with open(me.cert_path, "rb") as cert, open(me.key_path, "rb") as key:
            both = self.pki.write("both.pem", cert.read() + key.read())
        combined = replace(account, client_certificate=both, client_key=None)
        _, server = _handshake(tls_context(combined, HOST), server_context)
        self.assertEqual(server.get_peer_certificate(as_cryptography=True), me.certificate)
        without = replace(account, client_certificate=None, client_key=None)
        self.assertRaises(SSL.Error, _handshake, tls_context(without, HOST), server_context)

    def test_file_errors(self) -> None:
        """
        Unloadable files are L{TLSError}s naming the file, raised before any
        connection.
        """
        missing = self.pki.path("missing.pem")
        garbage = self.pki.write("garbage.pem", b"not a certificate\n")
        encrypted = self.pki.write("encrypted.key", _key_pem(self.server.key, b"secret"))
        stranger = self.pki.issue("stranger")
        cases = [
            (
                _account(certificate_files=(missing,)),
                f"Error while loading certificate file '{missing}': No such file or directory",
            ),
            (_account(certificate_files=(garbage,)), f"certificate file '{garbage}': "),
            (
                _account(client_certificate=missing),
                f"Error while loading client certificate file '{missing}': No such file",
            ),
            (
                _account(client_certificate=garbage),
                f"Error while loading client certificate file '{garbage}': ",
            ),
            (
                _account(client_certificate=self.server.cert_path, client_key=encrypted),
                f"Error while loading client private key '{encrypted}': ",
            ),
            (
                _account(client_certificate=self.server.cert_path),
                f"Error while loading client private key '{self.server.cert_path}': ",
            ),
            (
                _account(client_certificate=self.server.cert_path, client_key=stranger.key_path),
                f"Error while loading client private key '{stranger.key_path}': key values mismatch",
            ),
            (
                _account(client_key=stranger.key_path),
                f"account acct: ClientKey '{stranger.key_path}' needs a ClientCertificate",
            ),
        ]
        for account, expected in cases:
            error = self.assertRaises(TLSError, tls_context, account, HOST)
            self.assertIn(expected, str(error))

    def test_error_for_interrupted_handshake(self) -> None:
        """
        A connection lost after TLS started but before the handshake
        completed is a TLS failure, whatever the reason says.
        """
        creator = tls_context(_account(), HOST)
        creator.clientConnectionForTLS(None)
        self.assertEqual(
            str(creator.error_for(ConnectionDone())),
            f"SSL error connecting {HOST}:993: connection closed during the TLS handshake",
        )
        self.assertEqual(
            str(creator.error_for(ValueError("boom"))),
            f"SSL error connecting {HOST}:993: boom during the TLS handshake",
        )

    def test_error_for_other_reasons(self) -> None:
        """
        A connection lost before TLS started, or after a completed
        handshake, is not a TLS failure.
        """
        creator = tls_context(_account(), HOST)
        self.assertIsNone(creator.error_for(ConnectionDone()))
        account = _account(certificate_files=(self.server.cert_path,))
        creator = tls_context(account, HOST)
        _handshake(creator, _server_context(self.server))
        self.assertIsNone(creator.error_for(Failure(ConnectionDone())))
        self.assertEqual(creator.where, f"{HOST}:993")
        self.assertEqual(tls_context(_account(port=1993), "::1").where, "[::1]:1993")


# connect() on a memory reactor ----------------------------------------------


class _Resolution:
    """
    An L{IHostResolution} for L{_Resolver}.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        raise AssertionError("resolution is synchronous")


@implementer(IHostnameResolver)
class _Resolver:
    """
    Resolves every name to C{addresses} (none: an unknown name), recording
    what it was asked.
    """

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[tuple[str, int]] = []

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,  # noqa: N803 (Twisted's name)
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        self.asked.append((hostName, portNumber))
        resolution = cast(IHostResolution, _Resolution(hostName))
        resolutionReceiver.resolutionBegan(resolution)
        for address in self.addresses:
            resolutionReceiver.addressResolved(IPv4Address("TCP", address, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


class _Recorder(Protocol):
    """
    An IMAP stand-in: records what happens to it; may send a line when
    connected.
    """

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.made = 0
        self.received = b""
        self.lost: Failure | None = None

    def connectionMade(self) -> None:
        self.made += 1
        if self.greeting:
            assert self.transport is not None
            self.transport.write(self.greeting)

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: B008
        self.lost = reason


class _OneProtocol(Factory):
    """
    A factory handing out one given protocol.
    """

    def __init__(self, protocol: Protocol) -> None:
        self.protocol_instance = protocol

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return self.protocol_instance


class _FakeProcess(StringTransport):
    """
    The process transport the fake reactor hands out.
    """

    def closeStdin(self) -> None:
        self.loseConnection()


class _ServerSideTransport(StringTransport):
    """
    A transport that, as Twisted's C{tcp.Server}, would start TLS as the
    server.
    """

    _tlsClientDefault = False


class _EarlySocket:
    """
    Stands for a socket L{preconnect} connected: records how it is used.
    """

    family = 10

    def __init__(self) -> None:
        self.blocking = True
        self.closed = False

    def setblocking(self, flag: bool) -> None:
        self.blocking = flag

    def fileno(self) -> int:
        return 7

    def __enter__(self) -> _EarlySocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


class _ProcessReactor(FakeMailReactor):
    """
    A memory reactor that also records spawned processes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[str, list[str], Mapping[str, str] | None]] = []
        self.processes: list[_FakeProcess] = []

    def spawnProcess(
        self,
        processProtocol: IProcessProtocol,  # noqa: N803 (Twisted's name)
        executable: bytes | str,
        args: Sequence[bytes | str],
        env: Mapping[Any, Any] | None = None,
        path: Any = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,  # noqa: N803
        childFDs: Mapping[int, int | str] | None = None,  # noqa: N803
    ) -> Any:
        self.spawned.append((str(executable), [str(a) for a in args], env))
        process = _FakeProcess()
        self.processes.append(process)
        processProtocol.makeConnection(cast(IProcessTransport, process))
        return process


def _tls_server(reactor: MemoryReactorClock, issued: _Issued, app: Protocol) -> Protocol:
    """
    A Twisted TLS server protocol presenting C{issued}, wrapping C{app}.
    """
    options = CertificateOptions(
        privateKey=PKey.from_cryptography_key(issued.key),
        certificate=X509.from_cryptography(issued.certificate),
    )
    factory = TLSMemoryBIOFactory(options, False, _OneProtocol(app), clock=reactor)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 993))
    assert protocol is not None
    return protocol


class _Link:
    """
    Joins a client and a server protocol through two string transports.
    """

    def __init__(self, reactor: MemoryReactorClock, client: IProtocol, server: IProtocol) -> None:
        self.reactor = reactor
        self.client, self.server = client, server
        self.client_transport, self.server_transport = StringTransport(), StringTransport()
        self.closed = False
        server.makeConnection(self.server_transport)
        client.makeConnection(self.client_transport)

    def pump(self) -> None:
        """
        Move bytes both ways until nothing moves; then deliver a close.
        """
        for _ in range(100):
            self.reactor.advance(0)
            moved = False
            for source, target in (
                (self.client_transport, self.server),
                (self.server_transport, self.client),
            ):
                data = source.value()
                if data:
                    source.clear()
                    target.dataReceived(data)
                    moved = True
            if not moved:
                break
        closing = self.client_transport.disconnecting or self.server_transport.disconnecting
        if closing and not self.closed:
            self.closed = True
            self.client.connectionLost(Failure(ConnectionDone()))
            self.server.connectionLost(Failure(ConnectionDone()))


def _verbose_lines(events: Sequence[dict[str, Any]]) -> list[str]:
    """
    The C{-V} lines (events marked C{msync_verbose}) among logged events.
    """
    return [formatEvent(event) for event in events if event.get("msync_verbose")]


class ConnectTests(SynchronousTestCase):
    """
    L{connect}: endpoints per C{SSLType}, Tunnel, Timeout and failures.
    """

    def setUp(self) -> None:
        self.reactor = _ProcessReactor()
        self.resolver = _Resolver(ADDRESS)
        self.reactor.installNameResolver(self.resolver)
        self.app = _Recorder()

    def connect(self, **options: Any) -> Deferred[IProtocol]:
        return connect(self.reactor, _account(**options), _OneProtocol(self.app))

    def build_client(self) -> IProtocol:
        """
        Complete the latest TCP attempt: build its protocol.
        """
        host, port, factory, _, _ = self.reactor.tcpClients[-1]
        protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        assert protocol is not None
        return protocol

    def test_plain_and_starttls_use_tcp(self) -> None:
        """
        C{SSLType None} and C{STARTTLS} connect TCP to C{Host}:C{Port} and
        hand the plain transport to the protocol at once.
        """
        for ssl_type, port in ((SSLType.NONE, 143), (SSLType.STARTTLS, 1143)):
            self.app = _Recorder()
            connected = self.connect(ssl_type=ssl_type, port=port)
            self.assertEqual(self.resolver.asked[-1], (HOST, port))
            self.assertEqual(self.reactor.tcpClients[-1][:2], (ADDRESS, port))
            transport = StringTransport()
            self.build_client().makeConnection(transport)
            self.assertIs(self.successResultOf(connected), self.app)
            self.assertEqual(self.app.made, 1)
            assert self.app.transport is not None
            self.app.transport.write(b"a NOOP\r\n")
            self.assertEqual(transport.value(), b"a NOOP\r\n")

    def test_plain_adopts_early_connection(self) -> None:
        """
        C{SSLType None} with a connection made early (L{preconnect}): the
        reactor adopts it (no name resolution, no new connection), the
        protocol is built on it and our copy of the socket is closed.
        """
        early = _EarlySocket()
        taken: list[tuple[str, int]] = []

        def take(host: str, port: int) -> tuple[_EarlySocket, None]:
            taken.append((host, port))
            return early, None

        self.patch(preconnect, "take_early", take)
        connected = self.connect(ssl_type=SSLType.NONE, port=143)
        self.assertEqual(taken, [(HOST, 143)])
        self.assertEqual((self.resolver.asked, self.reactor.tcpClients), ([], []))
        [(fileno, family, factory)] = self.reactor.adoptedStreamConnections
        self.assertEqual((fileno, family, early.blocking, early.closed), (7, 10, False, True))
        transport = StringTransport()
        protocol = factory.buildProtocol(IPv4Address("TCP", ADDRESS, 143))
        assert protocol is not None
        protocol.makeConnection(transport)
        self.assertIs(self.successResultOf(connected), self.app)
        assert self.app.transport is not None
        self.app.transport.write(b"a NOOP\r\n")
        self.assertEqual(transport.value(), b"a NOOP\r\n")

    def test_early_talk_taken_over(self) -> None:
        """
        An early connection whose talk was made for this account: the IMAP
        protocol built on it takes the talk over (its greeting is known
        before anything is read); another protocol cannot, and the
        attempt fails rather than lose what the talk read.
        """
        account = _account(ssl_type=SSLType.NONE, port=143, user="u", password=Secret("p"))
        talk = EarlyTalk.for_account(account)
        self.assertEqual(talk.receive(b"* OK [CAPABILITY IMAP4rev1] hi\r\n"), b"")
        self.patch(preconnect, "take_early", lambda host, port: (_EarlySocket(), talk))
        made: list[IMAPClientProtocol] = []

        def build() -> IMAPClientProtocol:
            made.append(IMAPClientProtocol(self.reactor))
            return made[-1]

        connected = connect(self.reactor, account, Factory.forProtocol(build))
        [(_, _, factory)] = self.reactor.adoptedStreamConnections
        protocol = factory.buildProtocol(IPv4Address("TCP", ADDRESS, 143))
        assert protocol is not None
        protocol.makeConnection(StringTransport())
        self.assertIs(self.successResultOf(connected), made[0])
        self.assertIs(made[0].connection, talk.connection)
        greeting = self.successResultOf(made[0].greeting())
        self.assertEqual(greeting.text, b"hi")
        other = connect(self.reactor, account, _OneProtocol(self.app))
        [_, (_, _, factory)] = self.reactor.adoptedStreamConnections
        self.assertIsNone(factory.buildProtocol(IPv4Address("TCP", ADDRESS, 143)))
        self.failureResultOf(other)

    def test_early_talk_of_another_account(self) -> None:
        """
        A talk made for another account on the same server (another user)
        is not taken: its socket is closed and the connection made anew.
        """
        early = _EarlySocket()
        mine = _account(ssl_type=SSLType.NONE, port=143, user="me", password=Secret("p"))
        theirs = replace(mine, user="them")
        talk = EarlyTalk.for_account(theirs)
        self.assertTrue(talk.made_for(theirs))
        self.assertFalse(talk.made_for(mine))
        self.patch(preconnect, "take_early", lambda host, port: (early, talk))
        self.connect(ssl_type=SSLType.NONE, port=143, user="me", password=Secret("p"))
        self.assertTrue(early.closed)
        self.assertEqual(self.reactor.adoptedStreamConnections, [])
        self.assertEqual(len(self.reactor.tcpClients), 1)

    def test_early_connection_not_imaps(self) -> None:
        """
        C{IMAPS} does not take an early connection (TLS from its first
        byte); without one, C{SSLType None} and C{STARTTLS} connect as
        usual.
        """
        taken: list[tuple[str, int]] = []

        def take(host: str, port: int) -> None:
            taken.append((host, port))

        self.patch(preconnect, "take_early", take)
        self.connect(ssl_type=SSLType.IMAPS, port=993)
        self.assertEqual(taken, [])
        self.connect(ssl_type=SSLType.NONE, port=143)
        self.connect(ssl_type=SSLType.STARTTLS, port=143)
        self.assertEqual(taken, [(HOST, 143), (HOST, 143)])
        self.assertEqual(len(self.reactor.tcpClients), 3)
        self.assertEqual(self.reactor.adoptedStreamConnections, [])

    def test_adopted_starttls_as_client(self) -> None:
        """
        C{STARTTLS} over an early connection: Twisted adopts it as its
        server side (C{tcp.Server}), and the handover makes the transport
        start TLS as the client, so that the client's creator (which
        verifies the server) is the one used.
        """
        early = _EarlySocket()
        self.patch(preconnect, "take_early", lambda host, port: (early, None))
        connected = self.connect(ssl_type=SSLType.STARTTLS, port=143)
        [(_, _, factory)] = self.reactor.adoptedStreamConnections
        protocol = factory.buildProtocol(IPv4Address("TCP", ADDRESS, 143))
        assert protocol is not None
        transport = _ServerSideTransport()
        protocol.makeConnection(transport)
        self.assertIs(self.successResultOf(connected), self.app)
        self.assertIs(transport._tlsClientDefault, True)  # noqa: SLF001

    def test_imaps_after_verified_handshake(self) -> None:
        """
        C{IMAPS} does TLS first: the protocol is connected, and C{connect}
        fires, only after the handshake verified the server; then bytes flow
        encrypted both ways.
        """
        pki = _PKI(self.mktemp())
        server_cert = pki.issue(HOST, dns=[HOST])
        connected = self.connect(certificate_files=(server_cert.cert_path,))
        self.assertEqual(self.reactor.tcpClients[-1][:2], (ADDRESS, 993))
        server_app = _Recorder(b"* OK hi\r\n")
        link = _Link(
            self.reactor, self.build_client(), _tls_server(self.reactor, server_cert, server_app)
        )
        self.assertNoResult(connected)
        self.assertEqual(self.app.made, 0)
        self.assertTrue(link.client_transport.value().startswith(b"\x16\x03"))
        link.pump()
        self.assertIs(self.successResultOf(connected), self.app)
        self.assertEqual((self.app.made, self.app.received), (1, b"* OK hi\r\n"))
        assert self.app.transport is not None
        self.assertTrue(ISSLTransport.providedBy(self.app.transport))
        self.app.transport.write(b"a CAPABILITY\r\n")
        link.pump()
        self.assertEqual(server_app.received, b"a CAPABILITY\r\n")
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def imaps_refused(self, server_cert: _Issued, **options: Any) -> str:
        """
        Connect IMAPS to a server presenting C{server_cert}; assert the
        protocol never saw the connection; return the L{TLSError} message.
        """
        connected = self.connect(**options)
        server_app = _Recorder(b"* OK hi\r\n")
        link = _Link(
            self.reactor, self.build_client(), _tls_server(self.reactor, server_cert, server_app)
        )
        link.pump()
        error = self.failureResultOf(connected, TLSError).value
        self.assertEqual((self.app.made, self.app.received, self.app.lost), (0, b"", None))
        self.assertTrue(link.client_transport.disconnecting)
        return str(error)

    def test_imaps_untrusted(self) -> None:
        """
        An untrusted certificate fails C{connect} with a L{TLSError}.
        """
        pki = _PKI(self.mktemp())
        message = self.imaps_refused(pki.issue(HOST, dns=[HOST]))
        self.assertIn(
            f"SSL error connecting {HOST}:993: server certificate is not trusted", message
        )

    def test_imaps_other_host(self) -> None:
        """
        A certificate for another host, trusted through its CA, fails
        C{connect}.
        """
        pki = _PKI(self.mktemp())
        ca = pki.issue("Test CA", ca=True)
        other = pki.issue("other", dns=["other.example.org"], issuer=ca)
        message = self.imaps_refused(other, certificate_files=(ca.cert_path,))
        self.assertIn(f"does not match host name '{HOST}'", message)

    def test_imaps_server_without_tls(self) -> None:
        """
        A server answering in plaintext on the IMAPS port is a L{TLSError},
        never a plaintext session.
        """
        connected = self.connect()
        server_app = _Recorder(b"* OK plaintext IMAP here\r\n")
        link = _Link(self.reactor, self.build_client(), server_app)
        link.pump()
        error = self.failureResultOf(connected, TLSError).value
        self.assertTrue(str(error).startswith(f"SSL error connecting {HOST}:993: "), str(error))
        self.assertEqual(self.app.made, 0)

    def test_imaps_closed_during_handshake(self) -> None:
        """
        A server closing during the handshake is a L{TLSError}.
        """
        connected = self.connect()
        client = self.build_client()
        client.makeConnection(StringTransport())
        client.connectionLost(Failure(ConnectionDone()))
        error = self.failureResultOf(connected, TLSError).value
        self.assertEqual(
            str(error),
            f"SSL error connecting {HOST}:993: connection closed during the TLS handshake",
        )

    def test_imaps_settings_checked_first(self) -> None:
        """
        Bad TLS settings fail before any connection attempt.
        """
        missing = os.path.join(self.mktemp(), "none.pem")
        self.failureResultOf(self.connect(certificate_files=(missing,)), TLSError)
        self.assertEqual(self.reactor.tcpClients, [])

    def test_timeout_while_connecting(self) -> None:
        """
        C{Timeout} bounds the TCP connection: then the attempt is stopped
        and C{connect} fails with L{ConnectionTimeout}.
        """
        connected = self.connect(ssl_type=SSLType.NONE, port=143, timeout=20)
        self.assertIsNone(self.reactor.tcpClients[-1][3])
        self.reactor.advance(19.9)
        self.assertNoResult(connected)
        self.reactor.advance(0.1)
        error = self.failureResultOf(connected, ConnectionTimeout).value
        self.assertEqual(
            str(error),
            f"Cannot connect to {HOST}:143: Connection timed out",
        )
        self.assertTrue(self.reactor.connectors[-1].stoppedConnecting)

    def test_timeout_during_handshake(self) -> None:
        """
        C{Timeout} also bounds the IMAPS handshake: a silent server gets the
        connection aborted.
        """
        connected = self.connect(timeout=5)
        self.reactor.advance(3)
        transport = StringTransport()
        self.build_client().makeConnection(transport)
        self.reactor.advance(2)
        self.failureResultOf(connected, ConnectionTimeout)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.app.made, 0)

    def test_no_timeout(self) -> None:
        """
        C{Timeout 0} means no limit.
        """
        connected = self.connect(timeout=0)
        self.reactor.advance(10**6)
        self.assertNoResult(connected)

    def test_timer_stopped_on_success(self) -> None:
        """
        A connection made in time leaves no timer behind.
        """
        connected = self.connect(ssl_type=SSLType.NONE, timeout=20)
        self.build_client().makeConnection(StringTransport())
        self.successResultOf(connected)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling C{connect} is a cancellation, not a timeout.
        """
        connected = self.connect(ssl_type=SSLType.NONE, timeout=20)
        connected.cancel()
        self.failureResultOf(connected, CancelledError)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_refused(self) -> None:
        """
        A refused connection is L{StoreUnavailable} with mbsync's wording.
        """
        connected = self.connect(ssl_type=SSLType.NONE, port=143)
        _, _, factory, _, _ = self.reactor.tcpClients[-1]
        refused = getConnectError((111, "Connection refused"))
        factory.clientConnectionFailed(self.reactor.connectors[-1], Failure(refused))
        error = self.failureResultOf(connected, StoreUnavailable).value
        self.assertTrue(error.temporary)
        self.assertEqual(
            str(error),
            f"Cannot connect to {HOST} ({ADDRESS}:143): Connection refused\n"
            f"No working address found for {HOST}",
        )

    def test_addresses_in_order(self) -> None:
        """
        Like mbsync, each address of the host is tried in turn, each failure
        named; C{-V} shows C{Resolving} once and C{Connecting} per address.
        """
        self.reactor.installNameResolver(_Resolver(ADDRESS, "192.0.2.8"))
        with capturedLogs() as events:
            connected = self.connect(ssl_type=SSLType.NONE, port=143)
            refused = getConnectError((111, "Connection refused"))
            for expected in (ADDRESS, "192.0.2.8"):
                host, _, factory, _, _ = self.reactor.tcpClients[-1]
                self.assertEqual(host, expected)
                factory.clientConnectionFailed(self.reactor.connectors[-1], Failure(refused))
        error = self.failureResultOf(connected, StoreUnavailable).value
        self.assertEqual(
            str(error).splitlines(),
            [
                f"Cannot connect to {HOST} ({ADDRESS}:143): Connection refused",
                f"Cannot connect to {HOST} (192.0.2.8:143): Connection refused",
                f"No working address found for {HOST}",
            ],
        )
        self.assertEqual(
            _verbose_lines(events),
            [
                f"Resolving {HOST}... ok",
                f"Connecting to {HOST} ({ADDRESS}:143)... ",
                f"Connecting to {HOST} (192.0.2.8:143)... ",
            ],
        )

    def test_imaps_verbose_lines(self) -> None:
        """
        Over IMAPS, C{-V} says C{Connection is now encrypted} once the
        verified handshake is done, as mbsync does.
        """
        with capturedLogs() as events:
            connected = self.connect(ssl_type=SSLType.IMAPS, port=993)
            self.assertEqual(len(self.reactor.tcpClients), 1)
        self.assertNoResult(connected)
        self.assertEqual(
            _verbose_lines(events),
            [f"Resolving {HOST}... ok", f"Connecting to {HOST} ({ADDRESS}:993)... "],
        )

    def test_isync15_resolving_line(self) -> None:
        """
        Following isync 1.5 (which resolves in a child process), C{-V}
        says C{Resolving host...} without C{ok}, and connecting waits for
        a later turn of the reactor (the other store opens meanwhile).
        """
        with capturedLogs() as events:
            connected = connect(
                self.reactor,
                _account(ssl_type=SSLType.NONE, port=143),
                _OneProtocol(self.app),
                isync15=True,
            )
            self.assertEqual(_verbose_lines(events), [f"Resolving {HOST}..."])
            self.assertEqual(self.reactor.tcpClients, [])
            self.reactor.advance(0)
        self.assertNoResult(connected)
        self.assertEqual(len(self.reactor.tcpClients), 1)
        self.assertEqual(
            _verbose_lines(events),
            [f"Resolving {HOST}...", f"Connecting to {HOST} ({ADDRESS}:143)... "],
        )

    def test_tunnel_verbose_line(self) -> None:
        """
        A Tunnel says C{Starting tunnel 'command'... ok}, as mbsync does.
        """
        with capturedLogs() as events:
            self.connect(ssl_type=SSLType.NONE, tunnel="ssh -q mail imapd")
        self.assertEqual(_verbose_lines(events), ["Starting tunnel 'ssh -q mail imapd'... ok"])

    def test_unresolvable(self) -> None:
        """
        An unknown host name is L{StoreUnavailable}: C{Error: Cannot
        resolve server 'host': reason}, getaddrinfo's reason asked in the
        reactor's thread pool.
        """
        asked = []

        def lookup(*arguments: object) -> NoReturn:
            asked.append(arguments[0])
            # What socket.gaierror(EAI_NONAME) carries.
            raise OSError(-2, "Name or service not known")

        self.patch(endpoint_module, "_getaddrinfo", lookup)
        self.reactor.installNameResolver(_Resolver())
        error = self.failureResultOf(self.connect(), StoreUnavailable).value
        self.assertEqual(
            str(error), f"Error: Cannot resolve server '{HOST}': Name or service not known"
        )
        self.assertEqual(asked, [HOST])
        self.assertTrue(error.temporary)

    def test_tunnel(self) -> None:
        """
        C{Tunnel} runs the command with C{/bin/sh -c} in our environment and
        speaks IMAP over its stdin/stdout; no TCP connection is made.
        """
        connected = self.connect(ssl_type=SSLType.NONE, tunnel="ssh -q mail imapd")
        self.assertIs(self.successResultOf(connected), self.app)
        self.assertEqual(
            self.reactor.spawned,
            [("/bin/sh", ["/bin/sh", "-c", "ssh -q mail imapd"], dict(os.environ))],
        )
        self.assertEqual((self.reactor.tcpClients, self.app.made), ([], 1))
        assert self.app.transport is not None
        self.app.transport.write(b"a LOGOUT\r\n")
        self.assertEqual(self.reactor.processes[-1].value(), b"a LOGOUT\r\n")

    def test_tunnel_with_imaps(self) -> None:
        """
        IMAPS over a Tunnel is refused before anything runs.
        """
        error = self.failureResultOf(self.connect(tunnel="nc mail 993"), TLSError).value
        self.assertEqual(str(error), "tunnel 'nc mail 993': msync cannot do IMAPS over a Tunnel")
        self.assertEqual(self.reactor.spawned, [])

    def test_neither_host_nor_tunnel(self) -> None:
        """
        An account without Host or Tunnel is unavailable.
        """
        error = self.failureResultOf(self.connect(host=None), StoreUnavailable).value
        self.assertEqual(str(error), "Skipping account acct, neither Host nor Tunnel given")

    def test_describe(self) -> None:
        """
        L{describe} names host and port, or the tunnel.
        """
        self.assertEqual(describe(_account()), f"{HOST}:993")
        self.assertEqual(describe(_account(host="::1", port=143)), "[::1]:143")
        self.assertEqual(describe(_account(tunnel="ssh x")), "tunnel 'ssh x'")
