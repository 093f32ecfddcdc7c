"""Standard Webhooks signatures: how splitd signs a delivery and how the device checks it.

``webhook-signature`` holds space-separated ``v1,<base64>`` entries, each an HMAC-SHA256 with
the base64-decoded part of the ``whsec_...`` secret over ``"{webhook-id}.{webhook-timestamp}.{body}"``;
one match is enough. Timestamps more than ``replay_window_seconds`` from the device clock are
refused.
"""

import base64
import hashlib
import hmac
import time
from typing import Mapping, Optional

DEFAULT_REPLAY_WINDOW_SECONDS = 300
"""Largest accepted distance between ``webhook-timestamp`` and the device clock."""


class SignatureError(Exception):
    """A webhook whose signature, headers or timestamp do not check out."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (raises ValueError if it is not base64)."""
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    return base64.b64decode(encoded)


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value splitd sends for ``body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: Optional[float] = None,
           replay_window_seconds: float = DEFAULT_REPLAY_WINDOW_SECONDS) -> str:
    """Checks a Standard Webhooks signature; returns the message id or raises SignatureError.

    ``headers`` is any mapping (keys compared case-insensitively), ``body`` the raw bytes.
    """
    lowered = {str(key).lower(): value for key, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp_text = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as missing:
        raise SignatureError(f"missing header {missing}") from None
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise SignatureError(f"webhook-timestamp {timestamp_text!r} is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > replay_window_seconds:
        raise SignatureError(f"webhook-timestamp {timestamp} is outside the {replay_window_seconds} s replay window")
    expected = sign(secret, message_id, timestamp_text, body).split(",", 1)[1]
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return message_id
    raise SignatureError("no v1 signature matches")
