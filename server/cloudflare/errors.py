"""Typed Cloudflare failures. Callers key on Cloudflare's error codes, not only the HTTP status: the same
condition arrives with different statuses (an unknown Vectorize index is 3000 with 400 or 404)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Codes worth naming; Cloudflare publishes no catalogue (see shared/reference/cloudflare-api.md).
INVALID_TOKEN = 1000
AUTHENTICATION = 10000
UNAUTHORIZED_RESOURCE = 9109
NO_ROUTE = 7003
D1_NOT_FOUND = 7404
D1_DUPLICATE_NAME = 7502
D1_SQL_ERROR = 7500
INDEX_NOT_FOUND = 3000
INDEX_DUPLICATE = 3002
RATE_LIMITED = 971
AI_DAILY_ALLOCATION = 3036  # Workers AI: the free daily allocation is used up (429)


@dataclass(frozen=True)
class ApiMessage:
    code: int
    message: str


@dataclass(eq=False)  # exceptions compare and hash by identity
class CloudflareError(Exception):
    """An API call failed. `status` is None when no HTTP answer arrived (network error, timeout)."""

    summary: str
    status: int | None = None
    errors: tuple[ApiMessage, ...] = field(default_factory=tuple)
    retry_after: float | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        detail = "; ".join(f"{e.code} {e.message}" for e in self.errors)
        status = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.summary} ({status}{': ' + detail if detail else ''})"

    @property
    def codes(self) -> set[int]:
        return {e.code for e in self.errors}

    def has_code(self, *codes: int) -> bool:
        return bool(self.codes & set(codes))

    @property
    def retryable(self) -> bool:
        return (self.status is None or self.status == 429 or self.status >= 500 or self.has_code(RATE_LIMITED)
                or self.daily_limit)

    @property
    def daily_limit(self) -> bool:
        """A free plan's daily limit (D1's rows, Workers AI's allocation): it passes at 00:00 UTC. D1 says so only
        in words, under the code it uses for every SQL error (7500), so its message is read here, and only here."""
        d1 = any(e.code == D1_SQL_ERROR and "daily" in e.message.lower() and "limit" in e.message.lower()
                 for e in self.errors)
        return d1 or self.has_code(AI_DAILY_ALLOCATION)

    @property
    def authentication(self) -> bool:
        """The token is not (or no longer) accepted: revoked, expired, or without the permission asked for."""
        return self.status in (401, 403) or self.has_code(INVALID_TOKEN, AUTHENTICATION, UNAUTHORIZED_RESOURCE)


class CloudflareNetworkError(CloudflareError):
    """No usable answer: connection refused or dropped, timeout, or a body that is not the API's envelope."""
