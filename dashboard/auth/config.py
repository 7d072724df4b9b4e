"""Access settings read from the environment (kept apart from `Settings`, which describes storage)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"environment variable {name} must be positive, got {raw!r}")
    return value


@dataclass
class AuthConfig:
    secure_cookies: bool = False  # LESIONLENS_SECURE_COOKIES=1: cookies only over HTTPS
    trust_proxy: int = 0  # LESIONLENS_TRUST_PROXY=N: honour X-Forwarded-For/-Proto/-Host from N proxies
    session_hours: float = 12.0  # absolute session lifetime
    idle_minutes: float = 120.0  # a session unused this long ends
    # lockout: back-off after this many failures within the window (per username / per address)
    user_failures: int = 5
    ip_failures: int = 20
    window_minutes: float = 60.0
    base_delay_s: float = 30.0
    max_delay_s: float = 900.0

    @classmethod
    def from_env(cls) -> "AuthConfig":
        proxy = os.environ.get("LESIONLENS_TRUST_PROXY", "").strip()
        return cls(
            secure_cookies=_flag("LESIONLENS_SECURE_COOKIES"),
            trust_proxy=int(proxy) if proxy.isdigit() else (1 if _flag("LESIONLENS_TRUST_PROXY") else 0),
            session_hours=_number("LESIONLENS_SESSION_HOURS", 12.0),
            idle_minutes=_number("LESIONLENS_SESSION_IDLE_MINUTES", 120.0),
        )
