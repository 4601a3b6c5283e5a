"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from COPYDESK_SECRET_KEY.

The derivation is HKDF-SHA256 with a fixed, purpose-specific `info`, so the same secret key can sign
sessions elsewhere without the two uses sharing key material. Without the secret key, a database dump
shows only ciphertext.
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plugin.errors import CopydeskError

_INFO = b"copydesk credentials v1"


class DecryptError(CopydeskError):
    """The stored credentials cannot be read with this secret key (was COPYDESK_SECRET_KEY changed?)."""


class Vault:
    """Encrypts and decrypts small JSON documents (tokens, keys, webhook secrets)."""

    def __init__(self, secret_key: str):
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def seal(self, data: dict) -> bytes:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def open(self, token: bytes) -> dict:
        try:
            return json.loads(self._fernet.decrypt(bytes(token)))
        except InvalidToken as err:
            raise DecryptError("stored credentials cannot be decrypted with this COPYDESK_SECRET_KEY") from err
