# -*- test-case-name: tests.integration.test_tls -*-
"""
L{msync.imap.endpoint} against the real private Dovecot of
L{tests.integration.dovecot}, on the real reactor over loopback: IMAPS and
STARTTLS with the fixture's self-signed certificate as C{CertificateFile},
refusal of an untrusted certificate and of one for another host name, a
refused port, and a C{Tunnel} to C{doveadm exec imap} (PREAUTH). A missing
Dovecot fails these tests; nothing is skipped.
"""

from __future__ import annotations

from typing import Any, cast

from cryptography import x509
from twisted.internet import reactor as _global_reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ITLSTransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from msync.config.schema import IMAPAccount, SSLType
from msync.errors import StoreUnavailable, TLSError
from msync.imap.endpoint import connect
from msync.imap.tls import tls_context
from msync.reactor import MailReactor
from tests.integration.dovecot import (
    HOST,
    DovecotServer,
    DovecotTestCase,
    find_binary,
    free_port,
)

reactor = cast(MailReactor, _global_reactor)


class _Lines(Protocol):
    """
    A minimal IMAP client for the tests: sends lines, waits for a line with
    a given prefix, and reports how the connection ended.
    """

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._buffer = b""
        self._waiting: list[tuple[bytes, Deferred[bytes]]] = []
        self.reason: Failure | None = None
        self.ended: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\r\n")
        for line in lines:
            self.lines.append(line)
            for waiter in [w for w in self._waiting if line.startswith(w[0])]:
                self._waiting.remove(waiter)
                waiter[1].callback(line)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        waiting, self._waiting = self._waiting, []
        for _, deferred in waiting:
            deferred.errback(reason)
        self.reason = reason
        self.ended.callback(None)

    def wait_for(self, prefix: bytes) -> Deferred[bytes]:
        """
        Fire with the next (or an already received) line starting with
        C{prefix}.
        """
        for line in self.lines:
            if line.startswith(prefix):
                self.lines.remove(line)
                return Deferred.fromCoroutine(_now(line))
        deferred: Deferred[bytes] = Deferred()
        self._waiting.append((prefix, deferred))
        return deferred

    async def command(self, tag: bytes, text: bytes) -> bytes:
        """
        Send C{tag text} and wait for its tagged response.
        """
        assert self.transport is not None
        self.transport.write(tag + b" " + text + b"\r\n")
        return await self.wait_for(tag + b" ")

    async def close(self) -> None:
        """
        Log out and wait for the connection to end.
        """
        await self.command(b"z", b"LOGOUT")
        assert self.transport is not None
        self.transport.loseConnection()
        await self.ended


async def _now(line: bytes) -> bytes:
    return line


def _account(server: DovecotServer, **options: Any) -> IMAPAccount:
    """
    An account for the fixture's default user; IMAPS by default.
    """
    settings: dict[str, Any] = {
        "host": HOST,
        "port": server.imaps_port,
        "ssl_type": SSLType.IMAPS,
        "timeout": 10,
        "user": server.user,
    }
    settings.update(options)
    return IMAPAccount(name="test", **settings)


async def _connect(account: IMAPAccount) -> _Lines:
    protocol = await connect(reactor, account, Factory.forProtocol(_Lines))
    assert isinstance(protocol, _Lines)
    return protocol


class TLSTests(DovecotTestCase):
    """
    IMAPS, STARTTLS and certificate checks against a real Dovecot.
    """

    def peer_certificate(self, protocol: _Lines) -> x509.Certificate:
        assert protocol.transport is not None
        peer = protocol.transport.getPeerCertificate()  # type: ignore[attr-defined]
        return cast(x509.Certificate, peer.to_cryptography())

    def fixture_certificate(self, server: DovecotServer) -> x509.Certificate:
        with open(server.cert_path, "rb") as pem:
            return x509.load_pem_x509_certificate(pem.read())

    async def test_imaps_with_certificate_file(self) -> None:
        """
        IMAPS to 127.0.0.1 with the server's self-signed certificate as
        C{CertificateFile} connects; the greeting and a login arrive over
        the verified TLS connection.
        """
        account = _account(self.dovecot, certificate_files=(self.dovecot.cert_path,))
        protocol = await _connect(account)
        greeting = await protocol.wait_for(b"* OK")
        self.assertIn(b"Dovecot", greeting)
        self.assertEqual(self.peer_certificate(protocol), self.fixture_certificate(self.dovecot))
        login = b'LOGIN "%s" "%s"' % (self.dovecot.user.encode(), self.dovecot.password.encode())
        self.assertTrue((await protocol.command(b"a", login)).startswith(b"a OK"))
        await protocol.close()

    async def test_starttls(self) -> None:
        """
        STARTTLS: a plain TCP connection, C{a STARTTLS}, then
        C{transport.startTLS(tls_context(...))} upgrades it; IMAP goes on
        over TLS with the verified certificate.
        """
        account = _account(
            self.dovecot,
            port=self.dovecot.imap_port,
            ssl_type=SSLType.STARTTLS,
            certificate_files=(self.dovecot.cert_path,),
        )
        protocol = await _connect(account)
        greeting = await protocol.wait_for(b"* OK")
        self.assertIn(b"STARTTLS", greeting)
        self.assertTrue((await protocol.command(b"a", b"STARTTLS")).startswith(b"a OK"))
        transport = ITLSTransport(protocol.transport)
        transport.startTLS(tls_context(account, HOST))
        capability = await protocol.command(b"b", b"CAPABILITY")
        self.assertTrue(capability.startswith(b"b OK"), capability)
        self.assertEqual(self.peer_certificate(protocol), self.fixture_certificate(self.dovecot))
        await protocol.close()

    async def test_starttls_untrusted(self) -> None:
        """
        STARTTLS to a server whose certificate is not trusted ends the
        connection; the creator explains it as a L{TLSError}.
        """
        account = _account(self.dovecot, port=self.dovecot.imap_port, ssl_type=SSLType.STARTTLS)
        protocol = await _connect(account)
        await protocol.wait_for(b"* OK")
        await protocol.command(b"a", b"STARTTLS")
        creator = tls_context(account, HOST)
        ITLSTransport(protocol.transport).startTLS(creator)
        assert protocol.transport is not None
        protocol.transport.write(b"b CAPABILITY\r\n")
        await protocol.ended
        error = creator.error_for(protocol.reason)
        self.assertIsInstance(error, TLSError)
        self.assertIn(f"SSL error connecting {HOST}:{self.dovecot.imap_port}: ", str(error))
        self.assertIn("not trusted (self-signed certificate)", str(error))
        self.assertFalse([line for line in protocol.lines if line.startswith(b"b ")])

    async def test_untrusted_refused(self) -> None:
        """
        Without C{CertificateFile} (system store only) the self-signed
        certificate is refused.
        """
        with self.assertRaises(TLSError) as caught:
            await _connect(_account(self.dovecot))
        self.assertIn(
            f"SSL error connecting {HOST}:{self.dovecot.imaps_port}: ", str(caught.exception)
        )
        self.assertIn("server certificate is not trusted", str(caught.exception))

    async def test_other_host_refused(self) -> None:
        """
        A trusted (pinned) certificate made for another host name is
        refused, as mbsync 1.4.4 refuses it, with both names in the message.
        """
        other = DovecotServer(self.mktemp(), cert_hostname="other.example")
        self.addCleanup(other.stop)
        other.start()
        account = _account(other, certificate_files=(other.cert_path,))
        with self.assertRaises(TLSError) as caught:
            await _connect(account)
        self.assertIn(
            f"server certificate does not match host name '{HOST}' (it is for other.example)",
            str(caught.exception),
        )

    async def test_connection_refused(self) -> None:
        """
        Nothing listening: L{StoreUnavailable}, mbsync's wording.
        """
        port = free_port()
        with self.assertRaises(StoreUnavailable) as caught:
            await _connect(_account(self.dovecot, port=port, ssl_type=SSLType.NONE))
        self.assertEqual(
            str(caught.exception),
            f"Cannot connect to {HOST} ({HOST}:{port}): Connection refused\n"
            f"No working address found for {HOST}",
        )

    async def test_tunnel(self) -> None:
        """
        A C{Tunnel} command (here Dovecot's own C{doveadm exec imap}) is
        spoken to over its stdin/stdout, greeting with PREAUTH.
        """
        doveadm = find_binary("doveadm")
        tunnel = f"{doveadm} -c {self.dovecot.config_path} exec imap -u {self.dovecot.user}"
        protocol = await _connect(_account(self.dovecot, ssl_type=SSLType.NONE, tunnel=tunnel))
        await protocol.wait_for(b"* PREAUTH")
        self.assertTrue((await protocol.command(b"a", b"SELECT INBOX")).startswith(b"a OK"))
        await protocol.close()
