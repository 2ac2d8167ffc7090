"""The typed reports about a store: its health, its sync's state, what one sync did. The storages build them,
and the tools' output schemas, their texts and the dashboard's API are all made from these same values, so a
renamed field fails a type check, not a client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class EmbeddingStatus(BaseModel):
    engine: str
    model: str
    dimension: int | None = None
    ready: bool = True
    load_seconds: float | None = None  # the background loader: how long the model took to load
    error: str | None = None  # why it could not load


class VectorIndexStatus(BaseModel):
    loaded: bool  # the in-memory index is ready (until then searches scan in SQL)
    vectors: int
    bytes: int


class VectorizeStatus(BaseModel):
    name: str
    vectors: int | None
    dimensions: int | None


class HealthDetails(BaseModel):
    """What one backend knows of itself (the others' fields are absent)."""

    database_path: str | None = None
    integrity_checked_at: float | None = None  # when SQLite's quick_check last ran (it is reused for 10 minutes)
    unique_tags: int | None = None
    sqlite_driver: str | None = None
    sqlite_version: str | None = None
    sqlite_vec_version: str | None = None
    migrations: list[str] | None = None
    vector_index: VectorIndexStatus | None = None
    d1_database_id: str | None = None
    vectorize_index: VectorizeStatus | None = None
    max_content_length: int | None = None  # characters per memory on this device


class CloudUsage(BaseModel):
    day: str  # UTC
    api_calls: int = 0
    d1_rows_read: int = 0
    d1_rows_written: int = 0


class ParkedOperation(BaseModel):
    content_hash: str
    op: str  # upsert | delete
    reason: str | None


class SyncStatus(BaseModel):
    queue_depth: int  # memories whose cloud copy is behind
    parked: int  # operations the cloud refused for good, kept with their reason
    parked_operations: list[ParkedOperation]
    cloud_reachable: bool | None  # None until the first attempt
    last_sync_at: float | None
    last_error: str | None
    last_error_at: float | None
    paused_until: float | None = None  # the sync waits until then (the cloud asked: Retry-After, a daily limit)
    owner_pid: int | None  # the process on this database that runs the sync
    cloud_usage_today: CloudUsage | None = None
    this_process_owns_sync: bool
    may_own_sync: bool


class SyncReport(BaseModel):
    """What one sync did (a force_sync's answer; the worker adds up its cycles)."""

    handled_by_pid: int | None = None  # the process that ran it (force_sync may ask another one)
    sent_new: int = 0
    sent_updates: int = 0
    sent_deletes: int = 0
    pulled_new: int = 0
    pulled_updates: int = 0
    applied_deletes: int = 0
    queued_for_cloud: int = 0
    parked: int = 0

    def add(self, other: SyncReport) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}


COUNTS = tuple(name for name in SyncReport.model_fields if name != "handled_by_pid")


class Health(BaseModel):
    status: str = "healthy"  # healthy | degraded | failing, from checks of the file itself (cloudflare: healthy)
    problems: list[str] = []  # why it is not healthy
    backend: str
    total_memories: int
    database_size_bytes: int
    embedding: EmbeddingStatus
    pragmas: dict[str, Any] = {}
    sync: SyncStatus | None = None  # hybrid only
    details: HealthDetails = HealthDetails()

    def as_json(self) -> dict[str, Any]:
        """For answers: every field, but of the details only those this backend has."""
        data = self.model_dump(mode="json")
        data["details"] = self.details.model_dump(mode="json", exclude_none=True)
        return data
