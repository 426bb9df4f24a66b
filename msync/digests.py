# -*- test-case-name: tests.test_digests -*-
"""
SHA-256 and BLAKE2b without loading OpenSSL's C{libcrypto}.

C{import hashlib} loads C{_hashlib}, and with it OpenSSL's C{libcrypto}
(its shared library and its configuration file): about 7 ms of a no-op run
whose stores never speak TLS, for two digests that the standard library
also builds without OpenSSL (C{_sha256} and C{_blake2}; C{hashlib.blake2b}
I{is} C{_blake2.blake2b}). Those built-in modules are used when present
(CPython 3.11), and C{hashlib}'s when not (another Python, or a build
without them): the digests are the same either way, byte for byte.

CRAM-MD5's HMAC-MD5 (RFC 2104) is computed here from C{_md5} too: the
standard library's C{hmac} imports C{_hashlib} as well.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["blake2b", "bulk_sha256", "hmac_md5", "md5", "sha256"]


def _builtin(module: str, name: str) -> Callable[..., _Hash]:
    """
    C{name} from the built-in module C{module}, else from C{hashlib}.
    """
    try:
        return cast("Callable[..., _Hash]", getattr(importlib.import_module(module), name))
    except (ImportError, AttributeError):
        return cast("Callable[..., _Hash]", getattr(importlib.import_module("hashlib"), name))


sha256: Callable[..., _Hash] = _builtin("_sha256", "sha256")
"""C{hashlib.sha256}: C{sha256(data)}."""

blake2b: Callable[..., _Hash] = _builtin("_blake2", "blake2b")
"""C{hashlib.blake2b}: C{blake2b(data, digest_size=16)}."""

md5: Callable[..., _Hash] = _builtin("_md5", "md5")
"""C{hashlib.md5}: C{md5(data)}."""


@functools.cache
def bulk_sha256() -> Callable[..., _Hash]:
    """
    C{sha256} for megabytes of data: OpenSSL's (C{hashlib}'s), loaded on
    the first call. Where the processor has SHA instructions it digests
    several times faster than the built-in one (0.6 against 3 to 5 ms a
    MB), which pays for loading C{libcrypto} (about 3 ms) from a few
    hundred kB on; the digest is the same, byte for byte. The built-in
    one when C{hashlib} has no OpenSSL.
    """
    try:
        return cast("Callable[..., _Hash]", importlib.import_module("_hashlib").openssl_sha256)
    except (ImportError, AttributeError):
        return sha256


#: HMAC's block size for MD5, and its two pads (RFC 2104, section 2).
_BLOCK = 64
_INNER = bytes(byte ^ 0x36 for byte in range(256))
_OUTER = bytes(byte ^ 0x5C for byte in range(256))


def hmac_md5(key: bytes, message: bytes) -> str:
    """
    HMAC-MD5 of C{message} under C{key} (RFC 2104), as hexadecimal: what
    C{hmac.new(key, message, hashlib.md5).hexdigest()} gives.
    """
    if len(key) > _BLOCK:
        key = md5(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = md5(key.translate(_INNER) + message).digest()
    return str(md5(key.translate(_OUTER) + inner).hexdigest())
