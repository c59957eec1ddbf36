"""Access tokens as both services issue them: same token while valid, expiry enforced, revocable."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field


@dataclass
class TokenStore:
    ttl_seconds: int = 7200
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (principal, expires_at)
    current: dict[str, str] = field(default_factory=dict)  # principal -> token
    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: int = 0

    def issue(self, principal: str) -> tuple[str, int]:
        """Repeated requests within validity return the same token (WeCom gettoken semantics)."""
        with self.lock:
            now = time.time()
            token = self.current.get(principal)
            if token and self.tokens[token][1] > now:
                return token, int(self.tokens[token][1] - now)
            token = secrets.token_urlsafe(48)
            self.tokens[token] = (principal, now + self.ttl_seconds)
            self.current[principal] = token
            self.issued += 1
            return token, self.ttl_seconds

    def check(self, token: str | None) -> str:
        """'ok', 'missing', 'invalid' or 'expired'."""
        if not token:
            return "missing"
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None:
            return "invalid"
        return "ok" if entry[1] > time.time() else "expired"

    def invalidate_all(self) -> None:
        """WeCom may invalidate tokens early; clients must fetch a new one."""
        with self.lock:
            self.tokens.clear()
            self.current.clear()

    def expire_all(self) -> None:
        with self.lock:
            self.tokens = {t: (p, 0.0) for t, (p, _) in self.tokens.items()}
            self.current.clear()
