"""Password hashing (werkzeug's scrypt), the password policy and generated passwords.

scrypt with werkzeug's defaults (N=2^15, r=8, p=1, 16-byte salt) costs ~32 MB
and ~0.1 s per check, which is the point. A login for an unknown username still
runs one check against a dummy hash, so response time does not reveal which
usernames exist. No password is ever stored, logged or put in an audit row.
"""

from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash

METHOD = "scrypt"
MIN_LENGTH = 10
MAX_LENGTH = 256  # hashing megabytes of "password" is a denial-of-service, not security
MIN_GUESSES_LOG10 = 6.0  # zxcvbn score >= 2: not among the first million guesses of a list-based attack
_DUMMY_HASH: str | None = None


class PasswordPolicyError(ValueError):
    pass


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=METHOD)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-work check; a missing hash (unknown user) is checked against a dummy and fails."""
    global _DUMMY_HASH
    if not password or len(password) > MAX_LENGTH:
        return False
    if not stored_hash:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        check_password_hash(_DUMMY_HASH, password)
        return False
    try:
        return check_password_hash(stored_hash, password)
    except ValueError:  # malformed hash in the database: refuse, never crash the login page
        return False


def check_policy(password: str, username: str = "") -> None:
    """At least 10 characters, at most 256, not the username, not repetitive, not a common password."""
    if password is None or len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"the password must have at most {MAX_LENGTH} characters")
    if username and password.strip().lower() == username.strip().lower():
        raise PasswordPolicyError("the password must not be the username")
    if len(set(password)) < 4:
        raise PasswordPolicyError("the password is too repetitive")
    if is_common(password, username):
        raise PasswordPolicyError("the password is too common or too easy to guess (it is on, or close to, "
                                  "the lists attackers try first); choose a longer, less predictable one")


def is_common(password: str, username: str = "") -> bool:
    """True for a password on zxcvbn's common-password list or estimated at < 10^6 guesses."""
    from zxcvbn import zxcvbn
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    if password.lower() in _common_set(FREQUENCY_LISTS):
        return True
    inputs = [username.strip()] if username and username.strip() else []
    return zxcvbn(password[:100], user_inputs=inputs)["guesses_log10"] < MIN_GUESSES_LOG10


_COMMON: frozenset[str] | None = None


def _common_set(lists) -> frozenset[str]:
    global _COMMON
    if _COMMON is None:
        _COMMON = frozenset(word.lower() for word in lists["passwords"])
    return _COMMON


def generate_password() -> str:
    """A random 16-character password (96 bits), easy to copy (URL-safe alphabet)."""
    return secrets.token_urlsafe(12)
