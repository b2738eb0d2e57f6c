"""TOTP codes for the tests, computed by RFC 6238 independently of allauth's own implementation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time


def rfc6238(secret: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """The TOTP code of a base32 ``secret`` at time ``at`` (RFC 6238 over RFC 4226)."""
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(base64.b32decode(secret, casefold=True), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def fresh_code(secret: str) -> str:
    """A code not about to expire: one used at the end of a step might be checked in the next."""
    if time.time() % 30 > 27:
        time.sleep(3.5)
    return rfc6238(secret)
