"""Secrets set in the UI are stored encrypted with a key derived from the site's secret key."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSE = b"openitsm site settings v1"


class UnreadableSecret(Exception):
    """The stored secret was encrypted under another secret key (the key was changed)."""


def _fernet(secret_key: str) -> Fernet:
    # A key of its own, so a leaked settings key never signs sessions and the other way round.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret_key: str, plain: str) -> str:
    return _fernet(secret_key).encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(secret_key: str, token: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise UnreadableSecret from exc
