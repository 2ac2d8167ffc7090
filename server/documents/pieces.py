"""A document's blocks cut into pieces that answer questions: along its own structure (a piece never spans two
sections or pages), about PIECE_CHARS long (what the embedding model reads: its first 256 word pieces), the next
piece of a section starting with the last sentence or so of the one before (OVERLAP), so a fact cut at an
edge is whole in one of them. A block longer than a piece is cut at sentence ends, else at spaces.
PIECE_CHARS and OVERLAP were chosen with bench/bench_ingest.py (docs/documents.md has the figures)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the readers (and their parsers) load only when a document is read, not at every start
    from server.documents.readers import Block

PIECE_CHARS = 1000
OVERLAP = 150
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")


@dataclass(frozen=True)
class Piece:
    text: str
    headings: tuple[str, ...]
    first_page: int | None
    last_page: int | None


MIN_TEXT = 100  # the least a piece's text may hold, whatever the caller asks for


def cut(blocks: list[Block], size: int = PIECE_CHARS, overlap: int = OVERLAP) -> list[Piece]:
    size = max(size, MIN_TEXT)
    overlap = max(0, min(overlap, (size - MIN_TEXT) // 2))  # a tail that leaves room for new text
    pieces: list[Piece] = []
    parts: list[str] = []
    pages: list[int | None] = []
    trail: tuple[str, ...] | None = None

    def close(carry: bool) -> None:
        nonlocal parts, pages
        if parts:
            pieces.append(Piece("\n\n".join(parts), trail or (), pages[0], pages[-1]))
            tail = _tail(parts[-1], overlap) if carry else ""
            parts, pages = ([tail], [pages[-1]]) if tail else ([], [])

    for block in blocks:
        if block.headings != trail or (pages and block.page != pages[-1]):  # a new section, or a new page
            close(carry=False)
            trail = block.headings
        for text in _split(block.text, size - overlap):  # room for the tail of the piece before
            if parts and sum(len(p) + 2 for p in parts) + len(text) > size:
                close(carry=True)
            parts.append(text)
            pages.append(block.page)
    close(carry=False)
    return pieces


def _split(text: str, size: int) -> list[str]:
    """A block as parts of at most `size` characters, cut at sentence ends when it can, else at spaces."""
    size = max(size, MIN_TEXT // 2)  # never a cut at nothing (it would not end)
    if len(text) <= size:
        return [text]
    out, current = [], ""
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > size:  # one sentence longer than a piece: cut at a space
            cut_at = sentence.rfind(" ", size // 2, size)
            cut_at = cut_at if cut_at > 0 else size
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:cut_at].strip())
            sentence = sentence[cut_at:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out


def _tail(text: str, overlap: int) -> str:
    """The end of a piece to repeat at the start of the next: whole sentences within `overlap` characters."""
    if overlap <= 0:
        return ""
    sentences = _SENTENCE_END.split(text)
    tail = ""
    for sentence in reversed(sentences):
        if len(tail) + len(sentence) + 1 > overlap:
            break
        tail = f"{sentence} {tail}".strip()
    return tail if tail != text else ""
