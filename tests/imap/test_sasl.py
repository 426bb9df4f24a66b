# -*- test-case-name: tests.imap.test_sasl -*-
"""
Tests for L{msync.imap.sasl}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import AuthenticationError, LocalProtocolError, RemoteProtocolError
from msync.imap.sasl import (
    CramMD5Client,
    LoginClient,
    Mechanism,
    OAuthBearerClient,
    PlainClient,
    SASLClient,
    XOAuth2Client,
    choose_mechanism,
    decode_challenge,
    make_client,
)
from msync.model import Secret

GMAIL_ERROR = b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'


class PlainTests(SynchronousTestCase):
    """
    PLAIN (RFC 4616).
    """

    def test_initial_response(self) -> None:
        """
        The message is an empty authzid, the user and the password, each
        after a NUL; it is sent once.
        """
        client = PlainClient("tim", Secret("tanstaaf"))
        self.assertEqual(client.name, b"PLAIN")
        self.assertEqual(client.initial_response(), b"\0tim\0tanstaaf")
        self.assertRaises(AuthenticationError, client.respond, b"")

    def test_without_sasl_ir(self) -> None:
        """
        Without SASL-IR the message answers the server's empty challenge.
        """
        client = PlainClient("tïm", Secret("pässword"))
        self.assertEqual(client.respond(b""), "\0tïm\0pässword".encode())
        self.assertRaises(AuthenticationError, client.respond, b"")

    def test_challenge_first(self) -> None:
        """
        A non-empty first challenge is refused.
        """
        self.assertRaises(AuthenticationError, PlainClient("t", Secret("p")).respond, b"x")

    def test_nul(self) -> None:
        """
        NUL inside the user or password cannot be encoded.
        """
        self.assertRaises(LocalProtocolError, PlainClient("t", Secret("a\0b")).initial_response)
        self.assertRaises(LocalProtocolError, PlainClient("t\0", Secret("p")).initial_response)


class LoginMechanismTests(SynchronousTestCase):
    """
    The SASL LOGIN mechanism.
    """

    def test_exchange(self) -> None:
        """
        No initial response; the user, then the password; nothing more.
        """
        client = LoginClient("tim", Secret("tanstaaf"))
        self.assertEqual(client.name, b"LOGIN")
        self.assertIsNone(client.initial_response())
        self.assertEqual(client.respond(b"Username:"), b"tim")
        self.assertEqual(client.respond(b"Password:"), b"tanstaaf")
        self.assertRaises(AuthenticationError, client.respond, b"Again:")


class CramMD5Tests(SynchronousTestCase):
    """
    CRAM-MD5 (RFC 2195).
    """

    def test_rfc2195_example(self) -> None:
        """
        The RFC's example exchange gives the RFC's response.
        """
        client = CramMD5Client("tim", Secret("tanstaaftanstaaf"))
        self.assertEqual(client.name, b"CRAM-MD5")
        self.assertIsNone(client.initial_response())
        challenge = decode_challenge(b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
        self.assertEqual(challenge, b"<1896.697170952@postoffice.reston.mci.net>")
        self.assertEqual(client.respond(challenge), b"tim b913a602c7eda7a495b4e6e7334d3890")

    def test_single_challenge(self) -> None:
        """
        Empty and second challenges are refused.
        """
        self.assertRaises(AuthenticationError, CramMD5Client("t", Secret("p")).respond, b"")
        client = CramMD5Client("t", Secret("p"))
        client.respond(b"<1@x>")
        self.assertRaises(AuthenticationError, client.respond, b"<2@x>")


class XOAuth2Tests(SynchronousTestCase):
    """
    XOAUTH2.
    """

    def test_initial_response(self) -> None:
        """
        The message is C{user=...^Aauth=Bearer ...^A^A}.
        """
        client = XOAuth2Client(
            "someuser@example.com", Secret("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
        )
        self.assertEqual(client.name, b"XOAUTH2")
        self.assertEqual(
            client.initial_response(),
            b"user=someuser@example.com\x01auth=Bearer "
            b"ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
        )

    def test_error_challenge(self) -> None:
        """
        An error challenge is recorded and answered with an empty response
        so the server completes with NO; a further challenge is refused.
        """
        client = XOAuth2Client("u", Secret("t"))
        client.initial_response()
        self.assertIsNone(client.error)
        self.assertEqual(client.respond(GMAIL_ERROR), b"")
        self.assertEqual(client.error, GMAIL_ERROR)
        self.assertRaises(AuthenticationError, client.respond, b"x")

    def test_without_sasl_ir(self) -> None:
        """
        Without SASL-IR the first, empty challenge gets the message.
        """
        client = XOAuth2Client("u", Secret("t"))
        self.assertEqual(client.respond(b""), b"user=u\x01auth=Bearer t\x01\x01")
        self.assertEqual(client.respond(GMAIL_ERROR), b"")


class OAuthBearerTests(SynchronousTestCase):
    """
    OAUTHBEARER (RFC 7628).
    """

    def test_rfc7628_example(self) -> None:
        """
        RFC 7628 §4.1's message, with host and port.
        """
        client = OAuthBearerClient(
            "user@example.com",
            Secret("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
            "server.example.com",
            143,
        )
        self.assertEqual(client.name, b"OAUTHBEARER")
        self.assertEqual(
            client.initial_response(),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
            b"auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
        )

    def test_without_host_and_escaping(self) -> None:
        """
        Host and port are optional; C{,} and C{=} in the user are escaped.
        """
        client = OAuthBearerClient("a,b=c", Secret("tok"))
        self.assertEqual(client.initial_response(), b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01")

    def test_error_challenge(self) -> None:
        """
        An error challenge is answered with a single ^A (RFC 7628 §3.2.3).
        """
        client = OAuthBearerClient("u", Secret("t"), "h", 993)
        client.initial_response()
        error = b'{"status":"invalid_token","scope":"x"}'
        self.assertEqual(client.respond(error), b"\x01")
        self.assertEqual(client.error, error)
        self.assertRaises(AuthenticationError, client.respond, b"")


class ClientCommonTests(SynchronousTestCase):
    """
    Behaviour shared by all clients.
    """

    def test_make_client(self) -> None:
        """
        L{make_client} returns the class for each SASL mechanism and
        refuses IMAP LOGIN.
        """
        rows: list[tuple[Mechanism, type[SASLClient]]] = [
            (Mechanism.PLAIN, PlainClient),
            (Mechanism.LOGIN, LoginClient),
            (Mechanism.CRAM_MD5, CramMD5Client),
            (Mechanism.XOAUTH2, XOAuth2Client),
            (Mechanism.OAUTHBEARER, OAuthBearerClient),
        ]
        for mechanism, cls in rows:
            client = make_client(mechanism, "u", Secret("p"), host="h", port=1)
            self.assertIsInstance(client, cls)
            self.assertEqual(client.name, mechanism.sasl_name)
        self.assertRaises(LocalProtocolError, make_client, Mechanism.IMAP_LOGIN, "u", Secret("p"))
        self.assertIsNone(Mechanism.IMAP_LOGIN.sasl_name)

    def test_secret_not_in_repr(self) -> None:
        """
        No client shows its secret in repr().
        """
        for mechanism in Mechanism:
            if mechanism is Mechanism.IMAP_LOGIN:
                continue
            client = make_client(mechanism, "u", Secret("hunter2xyzzy"), host="h", port=1)
            self.assertNotIn("xyzzy", repr(client))
            self.assertNotIn("xyzzy", repr(vars(client)))

    def test_decode_challenge(self) -> None:
        """
        Challenges are base64; empty text is an empty challenge; anything
        else is a protocol violation.
        """
        self.assertEqual(decode_challenge(b""), b"")
        self.assertEqual(decode_challenge(b"VXNlcm5hbWU6"), b"Username:")
        for bad in [b"not base64!", b"QQ", b"Q==="]:
            self.assertRaises(RemoteProtocolError, decode_challenge, bad)

    def test_clear_password(self) -> None:
        """
        Only CRAM-MD5 keeps the password off the wire.
        """
        self.assertEqual(
            [each for each in Mechanism if not each.sends_password_in_clear], [Mechanism.CRAM_MD5]
        )


def _caps(*names: bytes) -> frozenset[bytes]:
    return frozenset({b"IMAP4REV1", *names})


class ChooseMechanismTests(SynchronousTestCase):
    """
    L{choose_mechanism} follows mbsync's C{AuthMechs} rules.
    """

    def test_table(self) -> None:
        """
        Each row's configuration, capabilities and transport choose the
        expected mechanism.
        """
        plain_cram = _caps(b"AUTH=PLAIN", b"AUTH=CRAM-MD5")
        gmail = _caps(
            b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER", b"AUTH=PLAIN", b"AUTH=PLAIN-CLIENTTOKEN"
        )
        rows: list[tuple[tuple[str, ...], frozenset[bytes], bool, bool, Mechanism]] = [
            # config, caps, tls, trusted plaintext, chosen
            (("*",), _caps(), True, False, Mechanism.IMAP_LOGIN),
            (("*",), _caps(b"AUTH=PLAIN"), True, False, Mechanism.PLAIN),
            (("*",), plain_cram, True, False, Mechanism.CRAM_MD5),
            (("*",), plain_cram, False, False, Mechanism.CRAM_MD5),
            (("*",), _caps(b"AUTH=PLAIN"), False, True, Mechanism.PLAIN),
            (("*",), _caps(), False, True, Mechanism.IMAP_LOGIN),
            (("*",), gmail, True, False, Mechanism.PLAIN),
            (("XOAUTH2",), gmail, True, False, Mechanism.XOAUTH2),
            (("xoauth2", "plain"), gmail, True, False, Mechanism.XOAUTH2),
            (("OAUTHBEARER", "XOAUTH2"), gmail, True, False, Mechanism.OAUTHBEARER),
            (("*", "XOAUTH2"), gmail, True, False, Mechanism.XOAUTH2),
            (("LOGIN",), plain_cram, False, False, Mechanism.IMAP_LOGIN),
            (("PLAIN",), plain_cram, False, False, Mechanism.PLAIN),
            (("PLAIN", "LOGIN"), plain_cram, True, False, Mechanism.PLAIN),
            (("LOGIN", "PLAIN"), plain_cram, True, False, Mechanism.PLAIN),
            (("LOGIN", "CRAM-MD5"), plain_cram, True, False, Mechanism.CRAM_MD5),
            (("*",), _caps(b"AUTH=LOGIN"), True, False, Mechanism.IMAP_LOGIN),
            (("*",), _caps(b"AUTH=LOGIN", b"LOGINDISABLED"), True, False, Mechanism.LOGIN),
            (("LOGIN",), _caps(b"AUTH=LOGIN", b"LOGINDISABLED"), False, False, Mechanism.LOGIN),
            (("*",), _caps(b"auth=plain", b"LoginDisabled"), True, False, Mechanism.PLAIN),
        ]
        for config, caps, tls, trusted, expected in rows:
            self.assertEqual(
                choose_mechanism(config, caps, tls, trusted),
                expected,
                (config, sorted(caps), tls, trusted),
            )

    def test_nothing_fits(self) -> None:
        """
        When nothing fits, the error names what the server offers and what
        AuthMechs allows.
        """
        rows: list[tuple[tuple[str, ...], frozenset[bytes], bool, list[str]]] = [
            (("*",), _caps(b"AUTH=PLAIN"), False, ["AUTH=PLAIN", "LOGIN command", "without TLS"]),
            (("*",), _caps(b"LOGINDISABLED"), True, ["LOGINDISABLED", "AuthMechs is *"]),
            (("XOAUTH2",), _caps(b"AUTH=PLAIN"), True, ["AUTH=PLAIN", "AuthMechs is XOAUTH2"]),
            (("GSSAPI",), _caps(b"AUTH=GSSAPI"), True, ["AUTH=GSSAPI", "AuthMechs is GSSAPI"]),
            (("LOGIN",), _caps(b"LOGINDISABLED"), True, ["LOGINDISABLED"]),
            ((), _caps(b"AUTH=PLAIN"), True, ["AuthMechs is empty"]),
        ]
        for config, caps, tls, fragments in rows:
            error = self.assertRaises(
                AuthenticationError, choose_mechanism, config, caps, tls, False
            )
            for fragment in fragments:
                self.assertIn(fragment, str(error))
