"""
Tests for L{msync.digests}: the same digests as C{hashlib}'s, without
C{hashlib} where the built-in modules are there.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import sys

from twisted.trial.unittest import SynchronousTestCase

from msync import digests

SAMPLES = (b"", b"5 10003\n", b"2,U=2/1,U=1:2,S\0" * 1000, bytes(range(256)))


class DigestTests(SynchronousTestCase):
    """
    L{digests.sha256} and L{digests.blake2b} are C{hashlib}'s functions.
    """

    def test_sha256(self) -> None:
        """
        SHA-256 of each sample, at once and fed in pieces, is C{hashlib}'s.
        """
        for data in SAMPLES:
            self.assertEqual(digests.sha256(data).hexdigest(), hashlib.sha256(data).hexdigest())
            fed = digests.sha256(data[:7])
            fed.update(data[7:])
            self.assertEqual(fed.hexdigest(), hashlib.sha256(data).hexdigest())

    def test_bulk_sha256(self) -> None:
        """
        L{digests.bulk_sha256} is OpenSSL's SHA-256 (as C{hashlib}'s is),
        the same one at every call, and digests as L{digests.sha256} does.
        """
        bulk = digests.bulk_sha256()
        self.assertIs(digests.bulk_sha256(), bulk)
        self.assertIs(bulk, importlib.import_module("_hashlib").openssl_sha256)
        for data in (*SAMPLES, bytes(range(256)) * 5000):
            self.assertEqual(bulk(data).hexdigest(), digests.sha256(data).hexdigest())

    def test_bulk_sha256_without_openssl(self) -> None:
        """
        Without C{_hashlib}, L{digests.bulk_sha256} is the built-in SHA-256.
        """
        digests.bulk_sha256.cache_clear()
        # What it found stays cached until cleared: the next test finds OpenSSL's.
        self.addCleanup(digests.bulk_sha256.cache_clear)
        saved = sys.modules.get("_hashlib")
        sys.modules["_hashlib"] = None  # type: ignore[assignment]  # import fails
        try:
            self.assertIs(digests.bulk_sha256(), digests.sha256)
        finally:
            if saved is None:
                del sys.modules["_hashlib"]
            else:
                sys.modules["_hashlib"] = saved
        self.assertIs(digests.bulk_sha256(), digests.sha256)

    def test_blake2b(self) -> None:
        """
        BLAKE2b with a 16-byte digest, as the sidecars and caches use it, is
        C{hashlib}'s.
        """
        for data in SAMPLES:
            self.assertEqual(
                digests.blake2b(data, digest_size=16).hexdigest(),
                hashlib.blake2b(data, digest_size=16).hexdigest(),
            )
        self.assertEqual(len(digests.blake2b(b"x", digest_size=16).hexdigest()), 32)

    def test_builtin_modules(self) -> None:
        """
        On CPython 3.11 the functions come from C{_sha256} and C{_blake2},
        which do not load OpenSSL.
        """
        self.assertEqual(digests.sha256.__module__, "_sha256")
        self.assertIs(digests.blake2b, importlib.import_module("_blake2").blake2b)

    def test_fallback(self) -> None:
        """
        Without the built-in module, C{hashlib}'s function is taken.
        """
        saved = sys.modules.get("_sha256")
        sys.modules["_sha256"] = None  # type: ignore[assignment]  # import fails
        try:
            self.assertIs(digests._builtin("_sha256", "sha256"), hashlib.sha256)
        finally:
            if saved is None:
                del sys.modules["_sha256"]
            else:
                sys.modules["_sha256"] = saved
        self.assertIs(digests._builtin("_blake2", "sha256"), hashlib.sha256)


class HmacMd5Tests(SynchronousTestCase):
    """
    L{digests.hmac_md5} is C{hmac}'s HMAC-MD5.
    """

    def test_rfc2104_vectors(self) -> None:
        """
        RFC 2104's test vectors (its appendix).
        """
        self.assertEqual(
            digests.hmac_md5(b"\x0b" * 16, b"Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"
        )
        self.assertEqual(
            digests.hmac_md5(b"Jefe", b"what do ya want for nothing?"),
            "750c783e6ab0b503eaa86e310a5db738",
        )
        self.assertEqual(
            digests.hmac_md5(b"\xaa" * 16, b"\xdd" * 50), "56be34521d144c88dbb8c733f0e8b3f6"
        )

    def test_same_as_hmac(self) -> None:
        """
        Keys shorter than, as long as and longer than MD5's block (hashed
        first), and the RFC 2195 exchange, give C{hmac}'s digest.
        """
        challenge = b"<1896.697170952@postoffice.reston.mci.net>"
        for key in (b"", b"tanstaaftanstaaf", b"k" * 64, b"long" * 40, "pässwörd".encode()):
            self.assertEqual(
                digests.hmac_md5(key, challenge), hmac.new(key, challenge, hashlib.md5).hexdigest()
            )
        self.assertEqual(
            digests.hmac_md5(b"tanstaaftanstaaf", challenge), "b913a602c7eda7a495b4e6e7334d3890"
        )
