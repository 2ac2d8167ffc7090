"""Distractor sentences for the search sets: short technical sentences from the docstrings of Python's own
standard library, which every Python ships (read with `ast`, nothing imported or fetched). They share the
common words of everyday questions ("change", "time", "version", "file", "default", "order") without answering
any of them, as a real memory store full of notes does.

Deterministic for a given Python: the files are read in name order, the sentences deduplicated and picked by
a stable hash, so every run of a benchmark on one machine stores the same ones.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sysconfig
from pathlib import Path

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def sentences(count: int = 2400) -> list[str]:
    """`count` distinct sentences of 40 to 160 characters from docstrings of the standard library."""
    found: dict[str, None] = {}
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py")):
        if any(part in {"test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo"} for part in path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                for sentence in _SENTENCE.split(" ".join((doc or "").split())):
                    if 40 <= len(sentence) <= 160 and sentence[0].isupper() and sentence.endswith(".") \
                            and not re.search(r"[>{}=\[\]()]|\.\.\.|::", sentence):
                        found.setdefault(sentence)
    ranked = sorted(found, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    return ranked[:count]


if __name__ == "__main__":
    picked = sentences()
    print(len(picked))
    print("\n".join(picked[:25]))
