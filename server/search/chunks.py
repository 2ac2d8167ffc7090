"""The overlapping pieces a long memory is embedded in, so its end can be found by meaning too.

The embedding model reads only the first 256 word pieces (about 1,000 characters of English); a memory
longer than that gets one more vector per window, and scores by its best one.
"""

from __future__ import annotations

WINDOW = 1000  # characters per piece: about what the model reads
OVERLAP = 200  # shared with the previous piece, so a sentence cut at one edge is whole in the other
MAX_PIECES = 256  # a bound on the work for one memory (about 200,000 characters are covered)


def pieces(text: str) -> list[str]:
    """The pieces after the first WINDOW characters (the memory's own vector covers those); [] when short."""
    if len(text) <= WINDOW:
        return []
    out: list[str] = []
    start = WINDOW - OVERLAP
    while start < len(text) and len(out) < MAX_PIECES:
        end = min(len(text), start + WINDOW)
        if end < len(text):  # end at a space when one is near, not inside a word
            space = text.rfind(" ", start + WINDOW // 2, end)
            end = space if space > 0 else end
        out.append(text[start:end])
        if end >= len(text):
            break
        start = end - OVERLAP
    return out
