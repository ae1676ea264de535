"""Access tokens. Only SHA-256 digests are stored; the token itself is shown once."""

from __future__ import annotations

import hashlib
import secrets
import string
from enum import StrEnum

# Vendor session tokens look like 70+ alphanumerics; ours are 64 (session) / 48 (keys).
SESSION_TOKEN_LENGTH = 64
PERMANENT_KEY_LENGTH = 48
SESSION_TOKEN_TTL_SECONDS = 3600
_ALPHABET = string.ascii_letters + string.digits


# Said wherever a permanent key is issued (the command line, the console).
KEY_SHOWN_ONCE = "Keep the access_token now: only its hash is stored, it cannot be shown again."


class TokenKind(StrEnum):
    SESSION = "session"  # from login.user, lives one hour
    PERMANENT = "permanent"  # an API key, optional end date, can be blocked


def new_token(kind: TokenKind) -> str:
    """A fresh random token (~6 bits of entropy per character)."""
    length = SESSION_TOKEN_LENGTH if kind is TokenKind.SESSION else PERMANENT_KEY_LENGTH
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_token(token: str) -> str:
    # A fast hash is right here: tokens are long random strings, not guessable passwords.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
