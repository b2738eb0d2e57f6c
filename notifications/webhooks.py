"""Standard Webhooks on the wire: secrets, signatures, safe URLs and the one HTTP request.

No database here. ``notifications.sending`` claims a delivery, calls :func:`post` and records
what came back.

Signatures (https://www.standardwebhooks.com/): the headers ``webhook-id`` (the message id, the
same on every retry), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``: ``v1,``
and the base64 HMAC-SHA256 of ``"<id>.<timestamp>.<body>"`` keyed with the secret's bytes
(``whsec_`` + base64). Several signatures are separated by spaces: during a secret rotation's
grace period the message is signed with both secrets.

Requests go only to addresses on the public internet: the host is resolved first, every
address it resolves to is checked (loopback, private, link-local, multicast, reserved and
shared addresses are refused; loopback only with ``WEBHOOKS_ALLOW_LOOPBACK``), and the
connection is made to the address that was checked (no second lookup for DNS rebinding to
change). Redirects are never followed, time-outs are short and only the start of the response
is read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
EXCERPT_CHARS = 500
READ_BYTES = 4096
USER_AGENT = "MoodSaaS-Webhooks/1"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt, signed with every secret in ``secrets_``."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets_),
    }


# --- Where requests may go --------------------------------------------------------------------------


class UnsafeURL(ValueError):
    """A webhook URL we refuse to call; the message says why (shown to the admin)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (a vetted address) and what to ask for."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address.is_loopback:
        return not allow_loopback
    return not address.is_global or address.is_multicast


def check_url(url: str, *, allow_loopback: bool | None = None, resolve: bool = True) -> Target | None:
    """Check ``url`` and resolve its host; raise :class:`UnsafeURL` if it may not be called.

    With ``resolve=False`` only the shape is checked (scheme, host, no credentials) and None is
    returned.
    """
    allow = settings.WEBHOOKS_ALLOW_LOOPBACK if allow_loopback is None else allow_loopback
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL(gettext("The URL is not valid.")) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURL(gettext("The URL must start with https:// and name a host."))
    if parts.username or parts.password:
        raise UnsafeURL(gettext("The URL must not contain a user name or password."))
    if parts.scheme == "http" and not allow:
        raise UnsafeURL(gettext("The URL must use https://."))
    if not resolve:
        return None
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(gettext("The host %(host)s could not be resolved.") % {"host": host}) from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeURL(gettext("The host %(host)s could not be resolved.") % {"host": host})
    for address in addresses:
        if _refused(address, allow):
            raise UnsafeURL(
                gettext("The host %(host)s resolves to %(address)s, which is not a public internet address.")
                % {"host": host, "address": address}
            )
    if parts.scheme == "http" and not all(a.is_loopback for a in addresses):
        raise UnsafeURL(gettext("The URL must use https:// (plain http is allowed for loopback only)."))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, address=str(addresses[0]), path=path)


# --- The request ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code and the start of the body, or an error."""

    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers_: Mapping[str, str]) -> Outcome:
    """POST ``body`` to ``url`` once: checked address, no redirects, short time-outs.

    urllib3 (requests' own transport) is used directly because it can connect to the vetted
    address while keeping the host name for SNI, certificate checking and the ``Host`` header
    (``server_hostname``/``assert_hostname``), which requests cannot without patching.
    """
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = check_url(url)
    except UnsafeURL as refused:
        return Outcome(status_code=None, duration_ms=elapsed(), error=str(refused))
    assert target is not None
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False, maxsize=1)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and not target.host.startswith("["):
        host_header = f"[{target.host}]" if target.port == default_port else f"[{target.host}]:{target.port}"
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers_, "host": host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                raw = response.read(READ_BYTES, decode_content=True)
            finally:
                response.release_conn()
    except urllib3.exceptions.TimeoutError:
        return Outcome(status_code=None, duration_ms=elapsed(), error="timed out")
    except urllib3.exceptions.HTTPError as error:
        return Outcome(status_code=None, duration_ms=elapsed(), error=_reason(error))
    excerpt = raw.decode("utf-8", "replace")[:EXCERPT_CHARS]
    outcome = Outcome(status_code=response.status, duration_ms=elapsed(), excerpt=excerpt)
    if 300 <= response.status < 400:
        location = response.headers.get("location", "")
        return Outcome(
            status_code=response.status,
            duration_ms=outcome.duration_ms,
            excerpt=excerpt,
            error=f"redirects are not followed (to {location[:200]})" if location else "redirects are not followed",
        )
    return outcome


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    return f"{type(reason).__name__}: {reason}"[:300]
