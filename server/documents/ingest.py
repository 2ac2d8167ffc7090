"""Documents into memory, one document one unit: its pieces (pieces.py) become memories of type `document`
that carry their source in their first line (name, heading trail, page) and in `metadata.document` (name,
source, hash, format, piece n of m, pages, headings), tagged `document`, `doc:<hash>`, `src:<source>` and the
caller's tags.

- The same bytes again from the same source: nothing is added ("unchanged").
- Changed bytes from a source seen before: the new pieces are stored, then the old ones deleted ("replaced");
  no stale piece stays, and a search never finds the document missing in between.
- Everything is read and cut before the first write: a file that cannot be read stores nothing; a failure
  while storing removes the pieces it had stored, and the earlier version stays.
- A source is the file's absolute path, or `upload:<name>` for bytes sent to the dashboard (over HTTP no
  path on the server is ever read).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server import record
from server.documents.pieces import OVERLAP, PIECE_CHARS, Piece, cut
from server.documents.readers import FORMATS, Block, DocumentError, read
from server.errors import InvalidInputError, NotFoundError
from server.record import Memory, iso_utc
from server.service import MemoryService, content_hash
from server.storage.base import MemoryFilter

DOCUMENT_TYPE = "document"
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIECES = 5000  # per document
BATCH = 64  # pieces embedded and written together


@dataclass
class Report:
    name: str
    source: str
    status: str  # added | replaced | unchanged | failed | would add | would replace
    pieces: int = 0
    hash: str = ""
    reason: str = ""  # why it failed, or what was noticed (pages without text)
    hashes: list[str] = field(default_factory=list)  # the pieces' memory hashes


def ingest_file(service: MemoryService, path: Path, tags: Sequence[str] = (), dry_run: bool = False,
                size: int = PIECE_CHARS, overlap: int = OVERLAP) -> Report:
    source = str(path.resolve())
    try:
        length = path.stat().st_size
        if length > MAX_FILE_BYTES:
            raise DocumentError(f"{path.name}: {length:,} bytes; at most {MAX_FILE_BYTES:,} are read")
        data = path.read_bytes()
    except OSError as exc:
        return Report(path.name, source, "failed", reason=f"{path}: {exc.strerror or exc}")
    except DocumentError as exc:
        return Report(path.name, source, "failed", reason=str(exc))
    return ingest_bytes(service, data, path.name, source, tags, dry_run, size, overlap)


def ingest_bytes(service: MemoryService, data: bytes, name: str, source: str, tags: Sequence[str] = (),
                 dry_run: bool = False, size: int = PIECE_CHARS, overlap: int = OVERLAP) -> Report:
    digest = hashlib.sha256(data).hexdigest()
    try:
        document = read(data, name)
        pieces = cut(document.blocks, size - _header_room(name, document.blocks), overlap)
        if len(pieces) > MAX_PIECES:
            raise DocumentError(f"{name}: {len(pieces)} pieces; at most {MAX_PIECES} per document")
        extra = record.check_tags(tags)
    except (DocumentError, InvalidInputError) as exc:
        return Report(name, source, "failed", hash=digest, reason=str(exc))
    noticed = f"{len(document.empty_pages)} page(s) without text (scans?): {_pages(document.empty_pages)}" \
        if document.empty_pages else ""
    earlier = _pieces_of(service, source_tag(source))
    if earlier and all(f"doc:{digest[:16]}" in m.tags for m in earlier):
        return Report(name, source, "unchanged", len(earlier), digest, noticed, [m.content_hash for m in earlier])
    status = "replaced" if earlier else "added"
    if dry_run:
        return Report(name, source, {"added": "would add", "replaced": "would replace"}[status], len(pieces), digest,
                      noticed)
    memories = _memories(pieces, name, source, digest, document.format, extra, service.max_content_length)
    known = _store_all(service, memories)
    for memory in memories:
        if memory.content_hash in known:  # the same text was stored before: it now says it is part of this version
            _claim(service, memory)
    fresh = {m.content_hash for m in memories}
    for old in earlier:
        if old.content_hash not in fresh:
            _release(service, old, source)
    return Report(name, source, status, len(memories), digest, noticed, [m.content_hash for m in memories])


def source_tag(source: str) -> str:
    return f"src:{hashlib.sha256(source.encode()).hexdigest()[:16]}"


def files(targets: Iterable[Path], recursive: bool) -> tuple[list[Path], list[str]]:
    """The files to read among `targets` (a folder: its files of a known format, and its subfolders' with
    `recursive`), and what was left out (a missing path, a file of an unknown format given by name)."""
    found, skipped = [], []
    for target in targets:
        if target.is_dir():
            pattern = target.rglob("*") if recursive else target.glob("*")
            found += sorted(p for p in pattern if p.is_file() and p.suffix.lower() in FORMATS
                            and not any(part.startswith(".") for part in p.relative_to(target).parts))
        elif target.is_file():
            found.append(target)
        else:
            skipped.append(f"{target}: no such file or folder")
    return found, skipped


@dataclass(frozen=True)
class DocumentInfo:
    name: str
    source: str
    hash: str
    pieces: int
    ingested: str  # when its pieces were stored (ISO, UTC)


def documents(service: MemoryService) -> list[DocumentInfo]:
    """Every ingested document, newest first, with its piece count."""
    found: dict[str, list[Memory]] = {}
    named: dict[str, dict[str, Any]] = {}
    for memory in _all(service, MemoryFilter(memory_type=DOCUMENT_TYPE)):
        for about in [memory.metadata.get("document") or {}, *(memory.metadata.get("copies") or {}).values()]:
            source = str(about.get("source") or about.get("hash"))
            found.setdefault(source, []).append(memory)
            named.setdefault(source, about)
    infos = []
    for source, memories in found.items():
        about = named[source]
        infos.append(DocumentInfo(str(about.get("name", "?")), source, str(about.get("hash", "")), len(memories),
                                  max(m.created_at_iso for m in memories)))
    return sorted(infos, key=lambda d: d.ingested, reverse=True)


def delete_document(service: MemoryService, which: str) -> DocumentInfo:
    """Delete every piece of one document, named by its name, its source or (a prefix of) its hash."""
    matches = [d for d in documents(service) if which in (d.name, d.source) or
               (len(which) >= 8 and d.hash.startswith(which.lower()))]
    if not matches:
        raise NotFoundError(f"No ingested document is named {which!r}; list them to see their names and hashes.")
    if len(matches) > 1:
        raise InvalidInputError(f"{len(matches)} documents match {which!r} ({', '.join(d.source for d in matches[:5])});"
                                " name one by its source or hash.")
    for memory in _pieces_of(service, source_tag(matches[0].source)):
        _release(service, memory, matches[0].source)
    return matches[0]


def _claim(service: MemoryService, piece: Memory) -> None:
    """A piece whose text was already stored: an earlier version of this document (its place and the
    document's hash are brought up to date), or another document with the same text (it gets this one's tags
    too, so deleting either leaves it to the other)."""
    stored = service.storage.get(piece.content_hash)
    if stored is None:
        return
    ours = source_tag(str(piece.metadata["document"]["source"]))
    if ours in stored.tags:
        if stored.metadata.get("document") != piece.metadata["document"] or set(piece.tags) - set(stored.tags):
            service.update_metadata(stored.content_hash, tags=[*stored.tags, *piece.tags],
                                    metadata={"document": piece.metadata["document"]})
    else:  # recorded under `copies`, so the listing and a later delete know this document holds it too
        copies = {**(stored.metadata.get("copies") or {}), ours: _brief(piece.metadata["document"])}
        service.update_metadata(stored.content_hash, tags=[*stored.tags, *piece.tags], metadata={"copies": copies})


def _release(service: MemoryService, piece: Memory, source: str) -> None:
    """Remove a piece from one document: deleted, unless another document holds the same text (then only this
    document's tags come off)."""
    ours = source_tag(source)
    others = [t for t in piece.tags if t.startswith("src:") and t != ours]
    if not others:
        service.storage.delete(piece.content_hash)
        return
    copies = dict(piece.metadata.get("copies") or {})
    about = piece.metadata.get("document") or {}
    mine = about if about.get("source") == source else copies.get(ours, {})
    copies.pop(ours, None)
    change: dict[str, Any] = {"copies": copies or None}
    if about.get("source") == source and copies:  # this document was its first: another one takes its place
        first = next(iter(copies))
        change["document"] = {**about, **copies.pop(first)}
        change["copies"] = copies or None
    doc = f"doc:{str(mine.get('hash', ''))[:16]}"
    kept = [t for t in piece.tags if t not in (ours, doc)]
    service.update_metadata(piece.content_hash, tags=kept, metadata=change)


def _brief(about: dict[str, Any]) -> dict[str, Any]:
    return {"name": about.get("name"), "source": about.get("source"), "hash": about.get("hash")}


def _memories(pieces: list[Piece], name: str, source: str, digest: str, kind: str, tags: tuple[str, ...],
              limit: int) -> list[Memory]:
    now = time.time()
    memories = []
    for number, piece in enumerate(pieces, start=1):
        text = record.check_content(f"{_header(name, piece)}\n{piece.text}"[:limit], limit)
        pages = [piece.first_page, piece.last_page] if piece.first_page is not None else None
        metadata = {"document": {"name": name, "source": source, "hash": digest, "format": kind, "piece": number,
                                 "pieces": len(pieces), "pages": pages, "headings": list(piece.headings)}}
        memories.append(Memory(content=text, content_hash=content_hash(text),
                               tags=record.check_tags(["document", f"doc:{digest[:16]}", source_tag(source), *tags]),
                               memory_type=DOCUMENT_TYPE, metadata=record.check_metadata(metadata), created_at=now,
                               created_at_iso=iso_utc(now), updated_at=now, updated_at_iso=iso_utc(now)))
    return memories


def _header(name: str, piece: Piece) -> str:
    """Where a piece comes from, as its first line: what a search result shows first."""
    trail = f" › {' › '.join(piece.headings)}" if piece.headings else ""
    if piece.first_page is None:
        return f"[{name}{trail}]"
    pages = f"page {piece.first_page}" if piece.first_page == piece.last_page else \
        f"pages {piece.first_page}-{piece.last_page}"
    return f"[{name}{trail}, {pages}]"


def _header_room(name: str, blocks: Sequence[Block]) -> int:
    """Room for the longest first line a piece will get: with it, a piece stays within `size` characters, all
    of it read by the model in one window (a longer memory gets a second, costly vector)."""
    longest = max((len(_header(name, Piece("", b.headings, b.page, b.page))) for b in blocks), default=0)
    return min(longest + 12, 300)  # 12: a page range instead of one page, and the line break


def _store_all(service: MemoryService, memories: list[Memory]) -> set[str]:
    """Every piece, in batches; if one batch fails, the pieces stored before it are removed again. Returns the
    hashes that were stored already (the same text), which were left as they were."""
    stored: list[str] = []
    already: set[str] = set()
    try:
        for start in range(0, len(memories), BATCH):
            batch = memories[start:start + BATCH]
            known, _ = service.storage.known([m.content_hash for m in batch])
            service.storage.import_batch(batch)
            stored += [m.content_hash for m in batch if m.content_hash not in known]
            already |= known
    except BaseException:
        for hash_ in stored:
            service.storage.delete(hash_)
        raise
    return already


def _pieces_of(service: MemoryService, tag: str) -> list[Memory]:
    return list(_all(service, MemoryFilter(tags=(tag,))))


def _all(service: MemoryService, where: MemoryFilter) -> Iterable[Memory]:
    offset = 0
    while True:
        page, total = service.storage.page(where, offset, 1000)
        yield from page
        offset += len(page)
        if not page or offset >= total:
            return


def _pages(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def as_dict(report: Report) -> dict[str, Any]:
    return {"name": report.name, "source": report.source, "status": report.status, "pieces": report.pieces,
            "hash": report.hash, "reason": report.reason}
