"""Access tokens minted by the emulator, held in memory only: every emulator start begins
with no sessions except the one it mints, so stale tokens from a previous run fail."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Session:
    """Who a token belongs to and whether SOAP accepts it (JWT-based tokens are REST-only)."""

    user_id: str
    soap_ok: bool = True


class SessionStore:
    """Thread-safe token → Session map."""

    def __init__(self, org_id: str) -> None:
        self._org15 = org_id[:15]
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def mint(self, user_id: str, soap_ok: bool = True) -> str:
        token = f"{self._org15}!AQ" + secrets.token_urlsafe(48)
        with self._lock:
            self._sessions[token] = Session(user_id, soap_ok)
        return token

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            return self._sessions.get(token.strip())

    def revoke(self, token: str) -> None:
        """Test helper: make a token invalid, as an expired session would be."""
        with self._lock:
            self._sessions.pop(token, None)
