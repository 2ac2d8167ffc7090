"""Import candidates into a storage backend, in batches, with a progress bar and a report.

Idempotent and resumable: each batch is committed on its own (a memory's row, vector and tags in one
transaction), and a re-run skips what is already stored, so Ctrl-C or a crash half-way followed by a
re-run ends exactly where one uninterrupted run would. A memory deleted here since an earlier import
(a tombstone at or after its creation) is not brought back: the sync's rule, for the same reason.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from server import record
from server.errors import InvalidInputError
from server.imports.mcp_memory_service import Candidate
from server.settings import DEFAULT_MAX_CONTENT_LENGTH
from server.record import Memory
from server.storage.base import BulkImport

BATCH = 64  # memories embedded and committed together: the embedding batch is what costs


@dataclass
class ImportReport:
    imported: int = 0
    already_present: int = 0
    skipped_deleted: int = 0  # soft-deleted in the source
    skipped_superseded: int = 0  # an older version of a memory the source replaced
    skipped_deleted_here: int = 0  # imported before, then deleted here
    rehashed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source hash, reason)

    def lines(self, dry_run: bool = False) -> list[str]:
        verb = "would import" if dry_run else "imported"
        out = [f"{verb}: {_n(self.imported)}",
               f"already present: {_n(self.already_present)}" + (" (nothing new to add)" if not self.imported else "")]
        if self.skipped_deleted:
            out.append(f"skipped, deleted in the source: {_n(self.skipped_deleted)}")
        if self.skipped_superseded:
            out.append(f"skipped, replaced by a newer version in the source: {_n(self.skipped_superseded)}")
        if self.skipped_deleted_here:
            out.append(f"skipped, deleted here after an earlier import: {_n(self.skipped_deleted_here)}")
        if self.rehashed:
            out.append(f"content hash recomputed (the source used an older rule): {_n(self.rehashed)}")
        out.append(f"failed: {_n(len(self.failed))}")
        out += [f"  {h[:16] or '(no hash)'}: {why}" for h, why in self.failed[:20]]
        if len(self.failed) > 20:
            out.append(f"  ... and {len(self.failed) - 20} more")
        return out


def import_candidates(storage: BulkImport, candidates: Sequence[Candidate], dry_run: bool = False,
                      progress: IO[str] | None = sys.stderr,
                      content_limit: int = DEFAULT_MAX_CONTENT_LENGTH) -> ImportReport:
    """Every candidate is checked as the tools check a new memory (server/record.py), so a file cannot bring
    in what store_memory would refuse; a bad one is a failed line of the report, never a stop."""
    report = ImportReport()
    wanted: dict[str, Memory] = {}
    for c in candidates:
        if c.skipped == "deleted":
            report.skipped_deleted += 1
        elif c.skipped == "superseded":
            report.skipped_superseded += 1
        elif c.memory is None:
            report.failed.append((c.source_hash, c.reason))
        else:
            try:
                memory = record.checked(c.memory, content_limit)
            except InvalidInputError as exc:
                report.failed.append((c.source_hash, str(exc)))
                continue
            if memory.content_hash in wanted:
                report.already_present += 1  # the same content twice in the source (older hash rules allowed it)
            else:
                wanted[memory.content_hash] = memory
                report.rehashed += c.rehashed
    present, buried = storage.known(list(wanted))
    todo = []
    for memory in wanted.values():
        if memory.content_hash in present:
            report.already_present += 1
        elif buried.get(memory.content_hash, float("-inf")) >= memory.created_at:
            report.skipped_deleted_here += 1
        else:
            todo.append(memory)
    if dry_run:
        report.imported = len(todo)
        return report
    _store(storage, todo, report, progress)
    return report


def _store(storage: BulkImport, todo: list[Memory], report: ImportReport, progress: IO[str] | None) -> None:
    from tqdm import tqdm

    # Count, rate and time left; a plain line per update when stderr is a log, not a terminal.
    with tqdm(total=len(todo), unit="memory", desc="Embedding and storing", file=progress,
              disable=progress is None or not todo, mininterval=0.5, dynamic_ncols=True) as bar:
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            stored = storage.import_batch(batch)
            report.imported += stored
            report.already_present += len(batch) - stored  # stored meanwhile by a running server
            bar.update(len(batch))


def _n(count: int) -> str:
    return f"{count} {'memory' if count == 1 else 'memories'}"
