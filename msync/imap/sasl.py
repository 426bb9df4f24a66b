# -*- test-case-name: tests.imap.test_sasl -*-
"""
SASL client mechanisms (sans-IO) and mbsync's C{AuthMechs} choice.

A mechanism object produces raw responses; base64 and the AUTHENTICATE
framing belong to L{msync.imap.commands} (L{decode_challenge} here is the
inverse for the server's side).

Invariants:
  - Passwords and tokens are held only as L{Secret}; responses that embed
    them are computed on demand and never stored or shown in C{repr()}.
  - A mechanism's L{SASLClient.initial_response} and its first answer to an
    empty challenge are the same message, sent at most once: use the
    initial response with SASL-IR, or let L{SASLClient.respond} send it.
  - A challenge the mechanism cannot answer raises L{AuthenticationError};
    the caller cancels the exchange with C{*}.

Mechanism choice (L{choose_mechanism}) follows mbsync 1.4's C{AuthMechs}:
  - Names are case-insensitive. C{LOGIN} names the IMAP LOGIN command, as in
    mbsync; the SASL LOGIN mechanism is used for it only when the server
    says LOGINDISABLED but offers C{AUTH=LOGIN}.
  - C{*} stands for every supported mechanism that is secure enough for the
    transport: CRAM-MD5 always; PLAIN, SASL LOGIN and IMAP LOGIN only over
    TLS (or a transport the caller trusts, e.g. a C{Tunnel}). A mechanism
    named explicitly is allowed in plaintext too (the caller should warn,
    see L{Mechanism.sends_password_in_clear}).
  - XOAUTH2 and OAUTHBEARER are never part of C{*}: they need an OAuth
    token rather than a password, and servers such as Gmail offer them
    next to PLAIN, so picking them implicitly would break password logins.
    mbsync likewise uses them only when a SASL plugin exists.
  - Among the candidates the server offers, the strongest wins, whatever
    the configured order (mbsync: "the most secure choice from the
    intersection"): OAUTHBEARER, XOAUTH2, CRAM-MD5, PLAIN, IMAP LOGIN,
    SASL LOGIN.
"""

from __future__ import annotations

import binascii
import enum
from abc import ABC, abstractmethod
from collections.abc import Callable

from msync.digests import hmac_md5
from msync.errors import AuthenticationError, LocalProtocolError, RemoteProtocolError
from msync.model import Secret


class Mechanism(enum.Enum):
    """
    The ways msync can log in, strongest first.
    """

    OAUTHBEARER = "OAUTHBEARER"
    XOAUTH2 = "XOAUTH2"
    CRAM_MD5 = "CRAM-MD5"
    PLAIN = "PLAIN"
    IMAP_LOGIN = "IMAP LOGIN"
    LOGIN = "LOGIN"

    @property
    def sasl_name(self) -> bytes | None:
        """
        The name for AUTHENTICATE, or C{None} for the IMAP LOGIN command.
        """
        return None if self is Mechanism.IMAP_LOGIN else self.value.encode("ascii")

    @property
    def sends_password_in_clear(self) -> bool:
        """
        Whether an eavesdropper on an unencrypted connection learns the
        password or token.
        """
        return self is not Mechanism.CRAM_MD5


# AUTH=LOGIN is the SASL mechanism; the IMAP LOGIN command has no AUTH= name.
_BY_VALUE = {each.value: each for each in Mechanism if each is not Mechanism.IMAP_LOGIN}
_BEARER = frozenset({Mechanism.OAUTHBEARER, Mechanism.XOAUTH2})
# Secure enough for "*" without TLS: the password never crosses the wire.
_PLAINTEXT_SAFE = frozenset({Mechanism.CRAM_MD5})


def decode_challenge(text: bytes) -> bytes:
    """
    Decode the base64 text of a C{+} continuation during AUTHENTICATE.

    @raise RemoteProtocolError: if it is not base64.
    """
    try:
        return binascii.a2b_base64(text.strip(), strict_mode=True)
    except binascii.Error:
        raise RemoteProtocolError("SASL challenge is not base64") from None


def _utf8(text: str, what: str) -> bytes:
    data = text.encode("utf-8")
    if b"\0" in data:
        raise LocalProtocolError(f"SASL {what} cannot contain NUL")
    return data


class SASLClient(ABC):
    """
    One client side of one SASL exchange.
    """

    mechanism: Mechanism

    def __init__(self) -> None:
        self._initial_sent = False

    @property
    def name(self) -> bytes:
        """
        The mechanism name for AUTHENTICATE.
        """
        name = self.mechanism.sasl_name
        assert name is not None
        return name

    def initial_response(self) -> bytes | None:
        """
        Take the initial response to send with SASL-IR (RFC 4959).

        @return: the raw response, or C{None} if the mechanism has none
            (the server speaks first).
        """
        message = self._initial()
        if message is not None:
            self._initial_sent = True
        return message

    def respond(self, challenge: bytes) -> bytes:
        """
        Answer one decoded challenge.

        @return: the raw response (base64 it for the wire).
        @raise AuthenticationError: if the challenge is unexpected.
        """
        if not self._initial_sent:
            message = self._initial()
            if message is not None:
                # RFC 4422 §5: without SASL-IR the server sends an empty
                # challenge and the initial response answers it.
                self._initial_sent = True
                if challenge:
                    raise AuthenticationError(
                        f"{self.mechanism.value}: server sent a challenge before the "
                        "initial response"
                    )
                return message
        return self._answer(challenge)

    def _initial(self) -> bytes | None:
        return None

    @abstractmethod
    def _answer(self, challenge: bytes) -> bytes:
        """
        Answer a challenge after the initial response, if any.
        """

    def _unexpected(self) -> AuthenticationError:
        return AuthenticationError(f"{self.mechanism.value}: unexpected SASL challenge")


class PlainClient(SASLClient):
    """
    PLAIN (RFC 4616) with an empty authorization identity.
    """

    mechanism = Mechanism.PLAIN

    def __init__(self, user: str, password: Secret) -> None:
        super().__init__()
        self._user = user
        self._password = password

    def _initial(self) -> bytes:
        user = _utf8(self._user, "user name")
        return b"\0" + user + b"\0" + _utf8(self._password.value, "password")

    def _answer(self, challenge: bytes) -> bytes:
        raise self._unexpected()


class LoginClient(SASLClient):
    """
    The SASL LOGIN mechanism (draft-murchison-sasl-login): the server asks
    for the user name, then the password.
    """

    mechanism = Mechanism.LOGIN

    def __init__(self, user: str, password: Secret) -> None:
        super().__init__()
        self._user = user
        self._password = password
        self._step = 0

    def _answer(self, challenge: bytes) -> bytes:
        self._step += 1
        if self._step == 1:
            return _utf8(self._user, "user name")
        if self._step == 2:
            return _utf8(self._password.value, "password")
        raise self._unexpected()


class CramMD5Client(SASLClient):
    """
    CRAM-MD5 (RFC 2195): C{user SP hex(HMAC-MD5(secret, challenge))}.
    """

    mechanism = Mechanism.CRAM_MD5

    def __init__(self, user: str, password: Secret) -> None:
        super().__init__()
        self._user = user
        self._password = password
        self._answered = False

    def _answer(self, challenge: bytes) -> bytes:
        if self._answered or not challenge:
            raise self._unexpected()
        self._answered = True
        # Not hmac, which loads OpenSSL's hash library (msync.digests).
        key = self._password.value.encode("utf-8")
        digest = hmac_md5(key, challenge)
        return _utf8(self._user, "user name") + b" " + digest.encode("ascii")


class _BearerClient(SASLClient):
    """
    Shared by the OAuth 2.0 mechanisms: one message, and after it at most
    one error challenge, answered with C{_ERROR_REPLY} so the server ends
    the exchange with a tagged NO.

    @ivar error: the server's error challenge (JSON), if one came.
    """

    _ERROR_REPLY: bytes

    def __init__(self, user: str, token: Secret) -> None:
        super().__init__()
        self._user = user
        self._token = token
        self.error: bytes | None = None

    def _answer(self, challenge: bytes) -> bytes:
        if self.error is not None:
            raise self._unexpected()
        self.error = challenge
        return self._ERROR_REPLY


class XOAuth2Client(_BearerClient):
    """
    Google's and Microsoft's XOAUTH2:
    C{user=<user>^Aauth=Bearer <token>^A^A}; an error challenge is
    answered with an empty response.
    """

    mechanism = Mechanism.XOAUTH2
    _ERROR_REPLY = b""

    def _initial(self) -> bytes:
        user = _utf8(self._user, "user name")
        token = _utf8(self._token.value, "token")
        return b"user=" + user + b"\x01auth=Bearer " + token + b"\x01\x01"


class OAuthBearerClient(_BearerClient):
    """
    OAUTHBEARER (RFC 7628); an error challenge is answered with a single
    C{^A} (RFC 7628 §3.2.3).
    """

    mechanism = Mechanism.OAUTHBEARER
    _ERROR_REPLY = b"\x01"

    def __init__(
        self, user: str, token: Secret, host: str | None = None, port: int | None = None
    ) -> None:
        super().__init__(user, token)
        self._host = host
        self._port = port

    def _initial(self) -> bytes:
        # RFC 5801 §4 saslname: "," and "=" are escaped as =2C and =3D.
        user = _utf8(self._user, "user name").replace(b"=", b"=3D").replace(b",", b"=2C")
        message = b"n,a=" + user + b",\x01"
        if self._host is not None:
            message += b"host=" + _utf8(self._host, "host") + b"\x01"
        if self._port is not None:
            message += b"port=%d\x01" % (self._port,)
        return message + b"auth=Bearer " + _utf8(self._token.value, "token") + b"\x01\x01"


_CLIENTS: dict[Mechanism, Callable[[str, Secret], SASLClient]] = {
    Mechanism.XOAUTH2: XOAuth2Client,
    Mechanism.CRAM_MD5: CramMD5Client,
    Mechanism.PLAIN: PlainClient,
    Mechanism.LOGIN: LoginClient,
}


def make_client(
    mechanism: Mechanism,
    user: str,
    secret: Secret,
    *,
    host: str | None = None,
    port: int | None = None,
) -> SASLClient:
    """
    The client for a chosen SASL mechanism.

    @param secret: the password, or the OAuth token for the bearer mechanisms.
    @param host: the server name (OAUTHBEARER only).
    @param port: the server port (OAUTHBEARER only).
    @raise LocalProtocolError: for L{Mechanism.IMAP_LOGIN}, which is no SASL.
    """
    if mechanism is Mechanism.OAUTHBEARER:
        return OAuthBearerClient(user, secret, host, port)
    client = _CLIENTS.get(mechanism)
    if client is not None:
        return client(user, secret)
    raise LocalProtocolError("IMAP LOGIN is a command, not a SASL mechanism")


def _offered(server_caps: frozenset[bytes]) -> set[Mechanism]:
    offered: set[Mechanism] = set()
    for capability in server_caps:
        upper = capability.upper()
        if upper.startswith(b"AUTH="):
            name = upper[5:].decode("ascii", "replace")
            if name in _BY_VALUE:
                offered.add(_BY_VALUE[name])
    return offered


def choose_mechanism(
    auth_mechs_config: tuple[str, ...],
    server_caps: frozenset[bytes],
    tls_active: bool,
    login_allowed_in_plaintext: bool,
) -> Mechanism:
    """
    Pick how to log in, following mbsync's C{AuthMechs} rules (see the
    module docstring).

    @param auth_mechs_config: the C{AuthMechs} words, e.g. C{("*",)}.
    @param server_caps: the server's capabilities, e.g. C{b"AUTH=PLAIN"}.
    @param tls_active: the connection is encrypted (IMAPS or STARTTLS done).
    @param login_allowed_in_plaintext: the caller trusts this unencrypted
        transport (e.g. a C{Tunnel}), so C{*} admits cleartext passwords.
    @return: the strongest acceptable mechanism.
    @raise AuthenticationError: naming the offered and configured
        mechanisms, if none fits.
    """
    words = {word.upper() for word in auth_mechs_config}
    offered = _offered(server_caps)
    disabled = any(each.upper() == b"LOGINDISABLED" for each in server_caps)
    if not disabled:
        offered.add(Mechanism.IMAP_LOGIN)
    secure = tls_active or login_allowed_in_plaintext
    candidates: set[Mechanism] = set()
    for mechanism in Mechanism:
        if mechanism is Mechanism.LOGIN and not disabled:
            # mbsync's LOGIN is the command; SASL LOGIN only stands in for
            # it when the server refuses the command.
            continue
        word = "LOGIN" if mechanism is Mechanism.IMAP_LOGIN else mechanism.value
        named = word in words
        wildcard = "*" in words and mechanism not in _BEARER
        if named or (wildcard and (secure or mechanism in _PLAINTEXT_SAFE)):
            candidates.add(mechanism)
    for mechanism in Mechanism:
        if mechanism in candidates and mechanism in offered:
            return mechanism
    raise AuthenticationError(_no_mechanism(auth_mechs_config, server_caps, offered, secure))


def _no_mechanism(
    config: tuple[str, ...], server_caps: frozenset[bytes], offered: set[Mechanism], secure: bool
) -> str:
    server = sorted(
        each.decode("ascii", "replace")
        for each in server_caps
        if each.upper().startswith(b"AUTH=") or each.upper() == b"LOGINDISABLED"
    )
    if Mechanism.IMAP_LOGIN in offered:
        server.append("LOGIN command")
    reason = "" if secure else " (without TLS, * excludes mechanisms sending the password)"
    return (
        f"no usable authentication mechanism: server offers {' '.join(server) or 'nothing'}; "
        f"AuthMechs is {' '.join(config) or 'empty'}{reason}"
    )
