"""The sync between the local store and its cloud copy: the hybrid backend's background work.

Three moves, each safe to repeat and to interrupt at any point:
- push: drain the outbox in batches; each row sends its memory's current state (upsert or delete);
- pull: read the cloud's change log from this database's cursor and apply what other devices did;
- reconcile: compare the full hash sets (paged) and converge; at start-up and as the drift check.

One set of rules decides every conflict, whichever move meets it:
- a tombstone beats every copy created at or before the deletion (a memory stored again later is new),
  so a delete made on any device is never undone by a device that still holds a copy;
- otherwise the newer `updated_at` wins for tags, type and metadata (MCP_HYBRID_SYNC_UPDATES);
- a memory with a row in the outbox is this device's to send: pulls leave it alone until it is pushed.
Cloud writes are batched: one embedding call, one vector upsert and a few D1 statements per batch.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

from server import record
from server.cloudflare.errors import CloudflareError
from server.settings import HybridSettings
from server.record import Memory
from server.storage.local.outbox import Pending
from server.record import UnreadableRecord
from server.record.status import SyncReport
from server.sync.replicas import LocalReplica, RemoteReplica

logger = logging.getLogger(__name__)

MAX_BACKOFF = 300.0  # seconds: the longest wait before retrying a failed batch
PULL_PAGE = 1000
CHANGE_LOG_RETENTION = 30 * 86_400  # seconds of cloud change log kept; a device away longer reconciles in full


ORPHAN_WINDOW = 7 * 86_400.0  # a full comparison also repairs vectors lost in the last week
VECTORIZE_SETTLE = 60.0  # newer writes may simply not be processed by Vectorize yet


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds to wait before a batch is tried again: the cloud's Retry-After when it sent one, else
    exponential with full jitter (capped), so many devices do not retry in step."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, MAX_BACKOFF)
    return random.uniform(0.5, min(MAX_BACKOFF, 2.0 ** min(attempts + 1, 16)))


class SyncEngine:
    def __init__(self, local: LocalReplica, cloud: RemoteReplica, config: HybridSettings) -> None:
        self.local, self.cloud, self.config = local, cloud, config
        self._refused: set[str] = set()  # cloud records already logged as not pullable

    # -- push --------------------------------------------------------------------------------------

    def push(self, now: float | None = None) -> SyncReport:
        """Send one batch of due outbox rows. Retryable failures put the batch back with a backoff and are
        raised (the cloud is struggling); a definitive refusal is narrowed down to the rows that cause it,
        which are parked with the reason, and the others go through."""
        now = time.time() if now is None else now
        report = SyncReport()
        items = self.local.ledger.due(self.config.batch_size, now)
        if not items:
            return report
        try:
            self._send(items, report, now)
        except CloudflareError as exc:
            if exc.retryable:
                self._retry_later(items, exc, now)
                raise
            for item in items:  # one at a time, to find the rows the cloud will never accept
                try:
                    self._send([item], report, now)
                except CloudflareError as one:
                    if one.retryable:
                        self._retry_later([item], one, now)
                        raise
                    self.local.ledger.park(item, f"{one}", now)
                    report.parked += 1
                    logger.warning("Parked the sync of %s: %s", item.content_hash, one)
        return report

    def push_all(self, max_batches: int = 1000) -> SyncReport:
        report = SyncReport()
        for _ in range(max_batches):
            batch = self.push()
            report.add(batch)
            if not any(batch.counts().values()):
                break
        return report

    def _retry_later(self, items: Sequence[Pending], exc: CloudflareError, now: float) -> None:
        delay = backoff(max(i.attempts for i in items), exc.retry_after)
        self.local.ledger.retry_later(items, delay, str(exc), now)

    def _send(self, items: Sequence[Pending], report: SyncReport, now: float) -> None:
        upserts: dict[str, Memory] = {}
        deletes: dict[str, float] = {}
        local_tombs = self.local.ledger.tombstones([i.content_hash for i in items])
        sendable = []
        for item in items:
            try:
                memory = self.local.get(item.content_hash)
            except UnreadableRecord as exc:  # never sent as it is: kept here, parked with the reason
                self.local.ledger.park(item, str(exc), now)
                report.parked += 1
                continue
            sendable.append(item)
            if memory is not None:
                upserts[item.content_hash] = memory
            else:
                deletes[item.content_hash] = local_tombs.get(item.content_hash, now)
        cloud_rows = self.cloud.fetch(list(upserts))
        cloud_tombs = self.cloud.tombstones([h for h in upserts if h not in cloud_rows])
        new: list[Memory] = []
        changed: list[Memory] = []
        for content_hash, memory in upserts.items():
            remote = cloud_rows.get(content_hash)
            dead_at = cloud_tombs.get(content_hash)
            if remote is None and dead_at is not None and dead_at >= memory.created_at:
                self.local.delete_many([content_hash], dead_at, record=False)  # deleted on another device
                report.applied_deletes += 1
            elif remote is None:
                new.append(memory)
            elif remote.updated_at > memory.updated_at and self.config.sync_updates:
                self.local.replace_metadata(remote, record=False)  # edited elsewhere, later
                report.pulled_updates += 1
            else:  # ours is newer, or equal (a resend after a crash): make the cloud say what we say
                changed.append(memory)
        self.cloud.put_new(new)
        self.cloud.put_metadata(changed)
        if deletes:
            self.cloud.bury(deletes)
        self.local.ledger.done(sendable, last_push_at=time.time())
        report.sent_new += len(new)
        report.sent_updates += len(changed)
        report.sent_deletes += len(deletes)

    # -- pull --------------------------------------------------------------------------------------

    def pull(self, max_pages: int = 1000) -> SyncReport:
        """Apply what changed in the cloud since this database's cursor (other devices' writes)."""
        report = SyncReport()
        cursor = int(self.local.ledger.state().get("cloud_cursor", 0))
        oldest = self.cloud.oldest_change()
        if oldest is not None and oldest > cursor + 1:  # the log was trimmed past our cursor
            return self.reconcile()
        for _ in range(max_pages):
            hashes, position = self.cloud.changes_since(cursor, PULL_PAGE)
            if not hashes:
                break
            self._apply_remote(hashes, report)
            self.local.ledger.record(cloud_cursor=position)
            cursor = position
        return report

    # -- reconcile (start-up sync and drift check) -------------------------------------------------

    def reconcile(self, since: float | None = None) -> SyncReport:
        """Compare every hash on both sides (not counts) and converge. A new device pulls everything.

        With `since`, a narrow check: only memories updated and tombstones made since then, on both sides
        (what a drift check between two full ones needs to look at; the cloud reads only those rows)."""
        report = SyncReport()
        position = self.cloud.change_position()  # read first: later changes are the next pull's
        cloud = self.cloud.summaries(since=since)
        cloud_tombs = self.cloud.all_tombstones(since=since)
        view = self.local.ledger.reconcile_view(since)
        local, local_tombs, pending = view.memories, view.tombstones, view.pending
        differing = {h for h in cloud.keys() | local.keys() if cloud.get(h) != local.get(h)}
        differing |= cloud_tombs.keys() & local.keys()
        differing |= local_tombs.keys() & cloud.keys()
        differing -= pending
        if not self.config.sync_updates:  # only presence matters
            differing = {h for h in differing if (h in cloud) != (h in local)}
        ordered = sorted(differing)
        for start in range(0, len(ordered), self.config.drift_batch_size):
            self._apply_remote(ordered[start:start + self.config.drift_batch_size], report)
        self.cloud.trim_change_log(time.time() - CHANGE_LOG_RETENTION)
        now = time.time()
        removed, restored = self.cloud.repair_orphans(since if since is not None else now - ORPHAN_WINDOW,
                                                      now - VECTORIZE_SETTLE)
        if restored:
            logger.warning("Restored %d missing vector(s) in Vectorize", restored)
        edges = self.local.ledger.reconciled(position, time.time(), full=since is None,
                                             rebuild_graph=view.was_empty and report.pulled_new > 0)
        if edges is not None:
            logger.info("Rebuilt the memory graph after the first pull: %s edges", edges)
        return report

    # -- applying the cloud's state here -----------------------------------------------------------

    def _pullable(self, memory: Memory) -> bool:
        """A cloud record is taken only if the tools could have stored it (another version, or a hand edit in D1,
        may have written what this one refuses); the content limit is the hard one: each device has its own."""
        problem = record.write_problem(memory, record.HARD_CONTENT_LIMIT)
        if problem is not None and memory.content_hash not in self._refused:
            self._refused.add(memory.content_hash)
            logger.warning("Not pulling the cloud's memory %s: %s", memory.content_hash, problem)
        return problem is None

    def _apply_remote(self, hashes: Sequence[str], report: SyncReport) -> None:
        pending = self.local.ledger.pending(hashes)
        hashes = [h for h in hashes if h not in pending]
        if not hashes:
            return
        remote = {h: m for h, m in self.cloud.fetch(hashes).items() if self._pullable(m)}
        remote_tombs = self.cloud.tombstones([h for h in hashes if h not in remote])
        local_tombs = self.local.ledger.tombstones(hashes)
        to_store: list[Memory] = []
        to_delete: dict[str, float] = {}
        to_push: list[str] = []
        to_push_delete: list[str] = []
        for content_hash in hashes:
            theirs = remote.get(content_hash)
            try:
                ours = self.local.get(content_hash)
            except UnreadableRecord:
                continue  # left as it is (health reports it); deleting it here reaches the cloud like any delete
            if theirs is not None and ours is None:
                buried = local_tombs.get(content_hash)
                if buried is not None and buried >= theirs.created_at:
                    to_push_delete.append(content_hash)  # deleted here; the cloud has not heard yet
                else:
                    to_store.append(theirs)
            elif theirs is not None and ours is not None:
                if theirs.updated_at > ours.updated_at and self.config.sync_updates:
                    self.local.replace_metadata(theirs, record=False)
                    report.pulled_updates += 1
                elif ours.updated_at > theirs.updated_at and self.config.sync_updates:
                    to_push.append(content_hash)
            elif ours is not None:
                dead_at = remote_tombs.get(content_hash)
                if dead_at is not None and dead_at >= ours.created_at:
                    to_delete[content_hash] = dead_at
                elif not ours.is_probe:  # (a health probe is never synced)
                    to_push.append(content_hash)  # only here: the cloud needs it
            elif content_hash in remote_tombs and content_hash not in local_tombs:
                to_delete[content_hash] = remote_tombs[content_hash]  # remember it, so a late copy is refused
        if to_store:
            report.pulled_new += self.local.store_many(to_store, record=False)
        for content_hash, dead_at in to_delete.items():
            report.applied_deletes += len(self.local.delete_many([content_hash], dead_at, record=False))
        if to_push or to_push_delete:
            self.local.ledger.enqueue(to_push, to_push_delete)
            report.queued_for_cloud += len(to_push) + len(to_push_delete)
