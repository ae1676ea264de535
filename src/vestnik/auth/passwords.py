"""User passwords: Argon2id (a slow, memory-hard KDF) via argon2-cffi."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Argon2id with ~19 MiB memory and 2 passes (OWASP minimum); a login costs ~40 ms on one core:
# slow enough to make guessing expensive, fast enough for an API login.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy_hash: list[str] = []


def verify_login(password_hash: str | None, password: str) -> bool:
    """``verify_password`` for a login that may not exist (``None``): an unknown login still
    pays for one verification, so the reply time does not reveal which logins exist."""
    if password_hash is None:
        if not _dummy_hash:
            _dummy_hash.append(hash_password("not a password of anybody"))
        verify_password(_dummy_hash[0], password)
        return False
    return verify_password(password_hash, password)
