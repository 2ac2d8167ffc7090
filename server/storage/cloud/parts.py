"""How a long memory is kept in Cloudflare: one D1 row with the whole text, and one vector per part.

Workers AI reads only the first 512 tokens of a text (about 2,000-2,500 characters of English), so a memory
longer than PART_LENGTH characters is cut into consecutive parts, each embedded on its own. Part 0's vector has the memory's hash as id, as every short memory's does; part k's vector has
`part_vector_id(hash, k)`, and the D1 table `memory_parts` links it to its memory (and records which
characters it covers). A memory therefore stays one row: stored,
synced, updated and deleted as one, and found by its best part.

Every device cuts the same text at the same places (same function, same length: PART_LENGTH is recorded in
D1 as a shared setting), so two devices storing one memory write the same vector ids.
"""

from __future__ import annotations

from dataclasses import dataclass

PART_LENGTH = 2000  # characters: what the 512 tokens the model reads hold, for English prose
MAX_PARTS = 100  # a bound on the work for one memory: text beyond this many parts is found by its words only
_HASH_LENGTH = 64  # our content hashes are SHA-256 in hex; a Vectorize id is at most 64 bytes


@dataclass(frozen=True)
class Part:
    vector_id: str
    number: int
    start: int
    stop: int


def cut(text: str, length: int) -> list[tuple[int, int]]:
    """Consecutive (start, stop) spans covering `text`, each at most `length` characters, ending at a
    space when one lies in the span's last fifth, so that words are not cut in two."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        stop = min(len(text), start + length)
        if stop < len(text):
            space = text.rfind(" ", start + length * 4 // 5, stop)
            stop = space + 1 if space >= 0 else stop
        spans.append((start, stop))
        start = stop
    return spans


def part_vector_id(content_hash: str, number: int) -> str:
    """Part 0 is the memory's own vector; later parts get an id that names the memory and fits in 64 bytes."""
    if number == 0:
        return content_hash
    suffix = f"-p{number}"
    return content_hash[:_HASH_LENGTH - len(suffix)] + suffix


def parts(content_hash: str, text: str, length: int) -> list[Part]:
    """Every part of a memory (a short one has one: itself), at most MAX_PARTS."""
    spans = cut(text, length)[:MAX_PARTS]
    return [Part(part_vector_id(content_hash, n), n, start, stop) for n, (start, stop) in enumerate(spans)]


def is_part_id(vector_id: str) -> bool:
    """A later part's vector (its memory is found through memory_parts), not a memory's own."""
    return "-p" in vector_id  # content hashes are hex
