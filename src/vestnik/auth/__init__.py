"""Credentials: password hashing and access tokens (session tokens and permanent keys)."""

from vestnik.auth.passwords import hash_password, verify_login, verify_password
from vestnik.auth.tokens import (
    KEY_SHOWN_ONCE,
    PERMANENT_KEY_LENGTH,
    SESSION_TOKEN_TTL_SECONDS,
    TokenKind,
    hash_token,
    new_token,
)

__all__ = [
    "KEY_SHOWN_ONCE",
    "PERMANENT_KEY_LENGTH",
    "SESSION_TOKEN_TTL_SECONDS",
    "TokenKind",
    "hash_password",
    "hash_token",
    "new_token",
    "verify_login",
    "verify_password",
]
