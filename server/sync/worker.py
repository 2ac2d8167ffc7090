"""The background sync thread of a hybrid server process.

Ownership: of all server processes on one database (Claude Desktop's stdio server, an HTTP server, ...)
only one runs the sync at a time: the one holding an OS file lock next to the database. The OS drops the
lock when its holder exits in any way, SIGKILL included, and another process takes over on its next tick.
MCP_HYBRID_SYNC_OWNER limits which kind of process may take it (both | http | mcp).

The loop never needs a restart: when the cloud is unreachable (at start-up or later) it keeps the outbox,
retries the connection with backoff, and resumes by itself. No user call ever waits for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import filelock

from server.cloudflare.errors import CloudflareError
from server.errors import StorageError
from server.settings import HybridSettings
from server.record.status import CloudUsage, ParkedOperation, SyncReport, SyncStatus
from server.sync.engine import SyncEngine, backoff

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the owner looks for due outbox rows (its own writes wake it at once)
MAX_RECONNECT_WAIT = 60.0  # between tries to reach a cloud that did not answer
MAX_FAILURE_WAIT = 300.0  # between tries after a refusal (a revoked token) that said nothing of when
MAX_RETRY_AFTER = 90_000.0  # the longest wait the cloud may ask for (a daily limit: until 00:00 UTC)
FULL_RECONCILE_EVERY = 86_400.0  # a full hash-set comparison at most once a day; drift checks in between are narrow
DRIFT_MARGIN = 300.0  # a narrow check starts this long before the last one (writes in flight then)


class SyncWorker:
    def __init__(self, engine: SyncEngine, config: HybridSettings, lock_path: Path, may_own: bool,
                 poll: float = POLL_SECONDS) -> None:
        self.engine, self.config, self.may_own, self.poll = engine, config, may_own, poll
        self._lock = filelock.FileLock(str(lock_path), timeout=0)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cycle = threading.Lock()  # one sync cycle at a time (the loop or a forced sync)
        self._thread: threading.Thread | None = None
        self.owner = False
        self.connected = False
        self._failures = 0
        self._next_connect = 0.0
        self._resume_at = 0.0  # the cloud asked us to wait (Retry-After) until then
        self._counted: dict[str, int] = {}  # the client's usage already added to today's counts
        self._startup_done = False
        self._next_pull = 0.0
        self._next_drift = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mcp-memory-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.owner:
            self._lock.release(force=True)
            self.owner = False

    def nudge(self) -> None:
        """A local write happened: sync soon."""
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:  # the loop must outlive any surprise; the next tick tries again
                logger.exception("Sync cycle failed")
            self._wake.wait(self.poll)
            self._wake.clear()

    def _tick(self) -> None:
        if not self._take_ownership():
            return
        with self._cycle:
            forced = self._force_requested()
            report = self._cycle_once(force=forced)
            if forced:  # answer the asking process either way, so it does not wait in vain
                answer = report.counts() if report is not None else {"error": self._state().get("last_error")}
                self._record(last_forced_at=time.time(), last_forced_report=answer)

    def _take_ownership(self) -> bool:
        if self.owner:
            return True
        if not self.may_own:
            return False
        try:
            self._lock.acquire()
        except filelock.Timeout:
            return False
        self.owner = True
        self._record(owner_pid=os.getpid(), owner_since=time.time())
        logger.info("This process (pid %d) now runs the hybrid sync", os.getpid())
        return True

    def _cycle_once(self, force: bool) -> SyncReport | None:
        now = time.time()
        if now < self._resume_at and not force:
            return None  # the cloud said when to come back; its client had already retried
        if force:  # someone asked to sync now (here or in another process): a refusal's cause may be fixed
            self.engine.local.ledger.make_due(unpark=True)
        if not self.connected and not self._connect(now, force):
            return None
        report = SyncReport()
        try:
            if force or (self.config.sync_on_startup and not self._startup_done):
                report.add(self.engine.reconcile(since=None if force else self._drift_since(now)))
                self._startup_done = True
                self._next_drift = now + self.config.drift_check_interval
            report.add(self.engine.push_all())
            if force or now >= self._next_pull:
                report.add(self.engine.pull())
                self._next_pull = now + self.config.sync_interval
            if now >= self._next_drift:
                report.add(self.engine.reconcile(since=self._drift_since(now)))
                self._next_drift = now + self.config.drift_check_interval
            report.add(self.engine.push_all())  # what the pulls queued for the cloud
        except CloudflareError as exc:
            self._failed(exc, now, lost_contact=exc.status is None or exc.status >= 500)
            return None
        finally:
            self._account()
        self._failures = 0
        # Recovered: the last error is history now, not something to show as the sync's state.
        self._record(last_sync_at=time.time(), cloud_reachable=True, last_report=report.counts(), last_error=None,
                     last_error_at=None, paused_until=None)
        return report

    def _drift_since(self, now: float) -> float | None:
        """Where a drift check starts: None (everything) once a day, else shortly before the last check.
        A server that Claude Desktop restarts often then reads only what changed, not every row each time."""
        current = self._state()
        full, last = current.get("last_full_reconcile_at"), current.get("last_reconcile_at")
        if full is None or last is None or now - float(full) >= FULL_RECONCILE_EVERY:
            return None
        return float(last) - DRIFT_MARGIN

    def _account(self) -> None:
        """Add what this cycle cost in the cloud to today's counts (UTC day), shown by sync_status."""
        counted = self.engine.cloud.usage()
        spent = {k: v - self._counted.get(k, 0) for k, v in counted.items()}
        self._counted = counted
        if any(spent.values()):
            self.engine.local.ledger.add_usage(spent, time.strftime("%Y-%m-%d", time.gmtime()))

    def _connect(self, now: float, force: bool) -> bool:
        if now < self._next_connect and not force:
            return False
        try:
            self.engine.cloud.open()  # index dimensions, migrations, shared settings
        except StorageError as exc:
            self._failed(exc, now, lost_contact=True)
            return False
        self.connected = True
        self._failures = 0
        # Rows were held back while the cloud was away: send them now. And the cloud just accepted this token,
        # index and database again (at start-up, after an outage or a fixed token): what it refused before
        # may go through now, so parked rows are tried again too.
        revived = self.engine.local.ledger.make_due(unpark=True)
        logger.info("Connected to the cloud copy" + (f"; retrying {revived} parked operation(s)" if revived else ""))
        return True

    def _failed(self, exc: Exception, now: float, lost_contact: bool) -> None:
        """Every failure waits before the next try: as long as the cloud asked (Retry-After, a daily limit until
        it resets), else longer with each failure in a row. A refused token checks the connection again."""
        self._failures += 1
        cause = exc if isinstance(exc, CloudflareError) else exc.__cause__  # open() says it as a StorageError
        cause = cause if isinstance(cause, CloudflareError) else None
        if cause is not None and cause.authentication:
            lost_contact = True
        retry_after = cause.retry_after if cause is not None else None
        if retry_after is not None:
            wait = min(float(retry_after), MAX_RETRY_AFTER)
        elif cause is not None and cause.authentication:  # nothing changes until somebody fixes the token
            wait = min(MAX_FAILURE_WAIT, backoff(self._failures, None))
        elif lost_contact:
            wait = min(MAX_RECONNECT_WAIT, self.config.sync_interval, backoff(self._failures, None))
        else:
            wait = min(MAX_FAILURE_WAIT, backoff(self._failures, None))
        self._resume_at = now + wait
        if lost_contact:
            self.connected = False
            self._next_connect = now + wait
        logger.warning("Sync paused (%s); working locally, next try in %.0f s", exc, wait)
        self._record(cloud_reachable=not lost_contact, last_error=str(exc), last_error_at=now,
                     paused_until=self._resume_at)

    # -- forced sync and status --------------------------------------------------------------------

    def force(self, timeout: float = 60.0) -> SyncReport:
        """Sync now: compare hash sets, push and pull, sending only what is missing. In a process that does
        not own the sync, ask the owner and wait for its answer."""
        if self._take_ownership():
            self.engine.local.ledger.make_due()
            with self._cycle:
                report = self._cycle_once(force=True)
            if report is None:
                error = str(self.status().last_error or "no answer").rstrip(".")
                raise StorageError(f"The sync could not reach the cloud: {error}. Everything stays queued locally "
                                   "and is sent when the cloud answers.")
            self._record(last_forced_at=time.time(), last_forced_report=report.counts())
            return report.model_copy(update={"handled_by_pid": os.getpid()})
        if not self._owner_alive():
            raise StorageError("No server process on this database runs the sync (MCP_HYBRID_SYNC_OWNER="
                               f"{self.config.sync_owner} excludes this one): start one that may, or set it to both.")
        asked = time.time()
        self._record(force_requested_at=asked)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self._state()
            if float(current.get("last_forced_at", 0)) >= asked:
                answer = dict(current.get("last_forced_report", {}))
                if "error" in answer:
                    raise StorageError(f"The sync could not reach the cloud: {str(answer['error']).rstrip('.')}. "
                                       "Everything stays queued locally and is sent when the cloud answers.")
                return SyncReport(handled_by_pid=current.get("owner_pid"), **answer)
            time.sleep(0.2)
        raise StorageError(f"The process that owns the sync (pid {self._state().get('owner_pid')}) did not answer "
                           f"within {timeout:.0f} s; the outbox is kept and will be sent.")

    def _owner_alive(self) -> bool:
        """Whether some process holds the sync lock (a probe: taken and given back at once if free)."""
        probe = filelock.FileLock(self._lock.lock_file, timeout=0)
        try:
            probe.acquire()
        except filelock.Timeout:
            return True
        probe.release()
        return False

    def _force_requested(self) -> bool:
        current = self._state()
        return float(current.get("force_requested_at", 0)) > float(current.get("last_forced_at", 0))

    def status(self) -> SyncStatus:
        ledger = self.engine.local.ledger.status()
        current = ledger.state
        usage = current.get("cloud_usage_today")
        paused = current.get("paused_until")
        return SyncStatus(
            queue_depth=ledger.waiting, parked=ledger.parked,
            parked_operations=[ParkedOperation(content_hash=p.content_hash, op=p.op, reason=p.reason)
                               for p in ledger.parked_rows],
            cloud_reachable=current.get("cloud_reachable"), last_sync_at=current.get("last_sync_at"),
            last_error=current.get("last_error"), last_error_at=current.get("last_error_at"),
            paused_until=paused if (paused or 0) > time.time() else None, owner_pid=current.get("owner_pid"),
            cloud_usage_today=CloudUsage(**usage) if usage else None,
            this_process_owns_sync=self.owner, may_own_sync=self.may_own,
        )

    def _state(self) -> dict[str, Any]:
        return self.engine.local.ledger.state()

    def _record(self, **values: Any) -> None:
        self.engine.local.ledger.record(**values)
