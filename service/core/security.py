"""API keys: bearer tokens that name a tenant, kept only as SHA-256 hashes.

A key is ``ldk_`` and 43 URL-safe characters (32 random bytes). The API never stores a key, only
``TENANT:HASH`` entries in ``LOSSDOCTOR_API_KEYS`` (comma-separated; ``lossdoctor keys new TENANT``
prints both). A fast hash is enough because keys are random, not chosen by people: there is nothing
to guess from a leaked hash. Every configured hash is compared in constant time, so timing says
nothing about how close a wrong key came.

With ``LOSSDOCTOR_API_KEYS`` empty the service runs without keys and every caller is the default owner.
It then listens only on loopback, and a web page in the user's browser is the one caller left to keep out:
``is_loopback_host`` (against DNS rebinding: a page's own domain resolved to 127.0.0.1) and ``same_origin``
(against a page posting across origins) are what ``service.core.guard`` checks for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

#: Prefix of every key, so a leaked one is easy to recognise (and to search for in code and logs).
KEY_PREFIX = "ldk_"
#: Random bytes in a new key.
KEY_BYTES = 32
#: What a tenant may be called: it becomes part of Redis keys and shows in logs.
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: A key hash in ``LOSSDOCTOR_API_KEYS``: SHA-256 as 64 lowercase hex digits.
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
#: The ``WWW-Authenticate`` challenge of a 401 (RFC 6750).
REALM = 'Bearer realm="lossdoctor"'


#: HTTP methods that change state: a cross-origin request with one of them is refused without keys.
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def split_host(host: str) -> tuple[str, str] | None:
    """A ``Host`` header's name (lowercase, IPv6 without brackets) and port (``""`` if none); None if malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket:
            return None
    else:
        name, colon, port = host.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit() and len(rest) <= 6):
        return None
    return name, rest[1:]


def is_loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine by a loopback name: ``localhost``, ``127.x.x.x`` or
    ``[::1]``, with or without a port."""
    parts = split_host(host) if host else None
    if parts is None or not parts[0]:
        return False
    name = parts[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def same_origin(origin: str, host: str, scheme: str = "http") -> bool:
    """Whether an ``Origin`` header (``http://name:port``) is the server's own: ``scheme``, named by ``host``."""
    theirs_scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or theirs_scheme != scheme:
        return False  # "null" (a sandboxed page, a file) and anything unparsable is another origin
    theirs, ours = split_host(rest), split_host(host)
    if theirs is None or ours is None:
        return False
    default = "443" if scheme in ("https", "wss") else "80"
    return theirs[0] == ours[0] and (theirs[1] or default) == (ours[1] or default)


@dataclass(frozen=True)
class KeyEntry:
    """One configured key: the tenant it belongs to and the SHA-256 hex digest of the key."""

    tenant: str
    digest: str


class KeyConfigError(ValueError):
    """``LOSSDOCTOR_API_KEYS`` holds an entry that is not ``TENANT:HASH``."""


class Unauthorized(Exception):
    """A request without a key, or with one that is not configured; ``challenge`` is its WWW-Authenticate."""

    def __init__(self, detail: str, challenge: str) -> None:
        super().__init__(detail)
        self.detail, self.challenge = detail, challenge


def hash_key(key: str) -> str:
    """The SHA-256 hex digest of ``key`` as it appears in ``LOSSDOCTOR_API_KEYS``."""
    return hashlib.sha256(key.encode()).hexdigest()


def check_tenant(tenant: str) -> str:
    """``tenant`` if it is a valid tenant name, else a ValueError naming the rule."""
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(
            f"tenant {tenant[:70]!r} is not valid: use 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return tenant


def new_key(tenant: str) -> tuple[str, str]:
    """A fresh key for ``tenant`` and its ``TENANT:HASH`` entry for ``LOSSDOCTOR_API_KEYS``."""
    check_tenant(tenant)
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    return key, f"{tenant}:{hash_key(key)}"


@lru_cache(maxsize=8)
def parse_keys(setting: str) -> tuple[KeyEntry, ...]:
    """The entries of a ``LOSSDOCTOR_API_KEYS`` value; empty when the value is blank."""
    entries = []
    for position, raw in enumerate(setting.split(","), start=1):
        item = raw.strip()
        if not item:
            continue
        tenant, sep, digest = item.rpartition(":")
        if not sep or not HASH_PATTERN.match(digest):
            raise KeyConfigError(
                f"LOSSDOCTOR_API_KEYS entry {position} is not TENANT:HASH with a 64-digit SHA-256 hex hash; "
                "create entries with `lossdoctor keys new TENANT`"
            )
        try:
            check_tenant(tenant)
        except ValueError as exc:
            raise KeyConfigError(f"LOSSDOCTOR_API_KEYS entry {position}: {exc}") from None
        entries.append(KeyEntry(tenant, digest))
    return tuple(entries)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(authorization: str | None, setting: str, default_owner: str) -> str:
    """The tenant (owner) a request acts for; ``Unauthorized`` when keys are configured and it has no valid one."""
    entries = parse_keys(setting)
    if not entries:
        return default_owner
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized("this service needs an API key: send `Authorization: Bearer <key>`", REALM)
    digest = hash_key(token)
    tenant = None
    for entry in entries:  # every entry is compared, so the time taken does not depend on which one matched
        if hmac.compare_digest(entry.digest, digest):
            tenant = entry.tenant
    if tenant is None:
        raise Unauthorized("the API key is not valid", f'{REALM}, error="invalid_token"')
    return tenant


#: Prefix of a webhook signing secret (Standard Webhooks).
WEBHOOK_SECRET_PREFIX = "whsec_"
#: Fewest bytes a webhook signing secret may have (Standard Webhooks asks for 24 to 64).
WEBHOOK_SECRET_MIN_BYTES = 24


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; a ValueError naming the rule when it is not one."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError("LOSSDOCTOR_WEBHOOK_SECRET must be 'whsec_' followed by base64")
    try:
        key = base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("LOSSDOCTOR_WEBHOOK_SECRET: the part after 'whsec_' is not valid base64") from None
    if len(key) < WEBHOOK_SECRET_MIN_BYTES:
        raise ValueError(f"LOSSDOCTOR_WEBHOOK_SECRET must hold at least {WEBHOOK_SECRET_MIN_BYTES} bytes")
    return key


def new_webhook_secret() -> str:
    """A fresh webhook signing secret: ``whsec_`` and 32 random bytes in base64."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
