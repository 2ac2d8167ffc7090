"""Edit one member of a JSON (or JSONC) document as text, leaving every other byte as it was.

Re-serialising a whole config re-indents the user's own compact entries and drops what JSON cannot hold (a
VS Code `mcp.json` may carry `//` comments and trailing commas, which VS Code accepts). So the document is
parsed into values with their positions, and a change is a splice: our member's value replaced, a member
inserted before the closing brace in the indentation of its neighbours, or a member cut out with its comma.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class JsonSyntaxError(ValueError):
    def __init__(self, message: str, text: str, position: int) -> None:
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        super().__init__(f"{message} at line {line}, column {column}")
        self.message, self.line, self.column = message, line, column


@dataclass
class Node:
    start: int  # the value's first character
    end: int  # one past its last
    value: Any = None


@dataclass
class Member:
    key: str
    key_start: int
    value: Node
    comma: int | None = None  # the position of the comma after it, if any


@dataclass
class ObjectNode(Node):
    members: list[Member] = field(default_factory=list)
    has_comments: bool = False

    def member(self, key: str) -> Member | None:
        return next((m for m in self.members if m.key == key), None)


_WHITESPACE = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.DOTALL)


class _Parser:
    def __init__(self, text: str, comments: bool) -> None:
        self.text, self.comments, self.pos, self.saw_comment = text, comments, 0, False

    def skip(self) -> None:
        match = _WHITESPACE.match(self.text, self.pos)
        assert match is not None
        skipped = match.group(0)
        if "/" in skipped:
            if not self.comments:
                raise JsonSyntaxError("comments are not allowed in this file", self.text,
                                      self.pos + skipped.index("/"))
            self.saw_comment = True
        self.pos = match.end()

    def value(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise JsonSyntaxError("a value was expected", self.text, self.pos)
        char = self.text[self.pos]
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        start = self.pos
        if char == '"':
            match = _STRING.match(self.text, self.pos)
            if match is None:
                raise JsonSyntaxError("an unterminated string", self.text, self.pos)
            self.pos = match.end()
            return Node(start, self.pos, json.loads(match.group(0)))
        for literal, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(literal, self.pos):
                self.pos += len(literal)
                return Node(start, self.pos, value)
        match = _NUMBER.match(self.text, self.pos)
        if match is None or match.end() == start:
            raise JsonSyntaxError(f"unexpected {char!r}", self.text, self.pos)
        self.pos = match.end()
        return Node(start, self.pos, json.loads(match.group(0)))

    def object(self) -> ObjectNode:
        node = ObjectNode(self.pos, self.pos, {})
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                break
            if node.members and node.members[-1].comma is None:
                raise JsonSyntaxError("',' or '}' was expected", self.text, self.pos)
            if not self.text.startswith('"', self.pos):
                raise JsonSyntaxError("a key in double quotes was expected", self.text, self.pos)
            key_node = self.value()
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise JsonSyntaxError("':' was expected", self.text, self.pos)
            self.pos += 1
            value = self.value()
            member = Member(key_node.value, key_node.start, value)
            node.members.append(member)
            node.value[member.key] = value.value
            self.skip()
            if self.text.startswith(",", self.pos):
                member.comma = self.pos
                self.pos += 1
                self.skip()
                if self.text.startswith("}", self.pos) and not self.comments:
                    raise JsonSyntaxError("a trailing comma is not allowed in this file", self.text, member.comma)
        self.pos += 1
        node.end = self.pos
        return node

    def array(self) -> Node:
        node = Node(self.pos, self.pos, [])
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                break
            item = self.value()
            node.value.append(item.value)
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                self.skip()
                if self.text.startswith("]", self.pos) and not self.comments:
                    raise JsonSyntaxError("a trailing comma is not allowed in this file", self.text, self.pos - 1)
            elif not self.text.startswith("]", self.pos):
                raise JsonSyntaxError("',' or ']' was expected", self.text, self.pos)
        self.pos += 1
        node.end = self.pos
        return node


def parse(text: str, comments: bool = False) -> Node:
    """The document's root value with positions; `comments`: accept // and /* */ comments and trailing commas
    (JSONC, as VS Code reads its settings)."""
    parser = _Parser(text, comments)
    root = parser.value()
    parser.skip()
    if parser.pos != len(text):
        raise JsonSyntaxError("unexpected text after the document", text, parser.pos)
    if isinstance(root, ObjectNode):
        root.has_comments = parser.saw_comment
    return root


def find_object(root: Node, path: list[str]) -> ObjectNode | None:
    node: Node = root
    for key in path:
        if not isinstance(node, ObjectNode):
            return None
        member = node.member(key)
        if member is None:
            return None
        node = member.value
    return node if isinstance(node, ObjectNode) else None


def indent_unit(text: str) -> str:
    """The document's indentation step: the first indented line's lead, two spaces for a new document."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            lead = line[: len(line) - len(stripped)]
            return lead if "\t" in lead else " " * len(lead)
    return "  "


def _line_indent(text: str, position: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    lead = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
    return lead


def _render(value: Any, indent: str, unit: str, ascii_only: bool) -> str:
    """`value` as JSON, its inner lines indented from `indent`."""
    text = json.dumps(value, indent=unit, ensure_ascii=ascii_only)
    return text.replace("\n", "\n" + indent)


def set_member(text: str, obj: ObjectNode, key: str, value: Any, ascii_only: bool = False) -> str:
    """The text with `obj[key] = value`: the existing member's value replaced, or a new member added last."""
    unit = indent_unit(text)
    existing = obj.member(key)
    if existing is not None:
        if "\n" not in text[obj.start:obj.end]:  # a one-line object stays on one line
            rendered = json.dumps(value, ensure_ascii=ascii_only)
        else:
            rendered = _render(value, _line_indent(text, existing.key_start), unit, ascii_only)
        return text[:existing.value.start] + rendered + text[existing.value.end:]
    key_text = json.dumps(key, ensure_ascii=ascii_only)
    if obj.members:
        last = obj.members[-1]
        multiline = "\n" in text[obj.start:last.key_start]
        indent = _line_indent(text, last.key_start) if multiline else ""
        new = f"{key_text}: {_render(value, indent, unit, ascii_only) if multiline else json.dumps(value, ensure_ascii=ascii_only)}"
        if last.comma is not None:  # a trailing comma (JSONC): the new member gets one too
            at = _past_line_comment(text, last.comma + 1) if multiline else last.comma + 1
            return text[:at] + (f"\n{indent}" if multiline else " ") + new + "," + text[at:]
        at = last.value.end
        if multiline:  # the comma right after the value; the member after a comment that ends its line
            after = _past_line_comment(text, at)
            return text[:at] + "," + text[at:after] + f"\n{indent}" + new + text[after:]
        return text[:at] + ", " + new + text[at:]
    outer = _line_indent(text, obj.start)
    inner = outer + unit
    body = f"\n{inner}{key_text}: {_render(value, inner, unit, ascii_only)}\n{outer}"
    close = obj.end - 1
    return text[:obj.start + 1] + body + text[close:]


def remove_member(text: str, obj: ObjectNode, key: str) -> str:
    """The text without `obj[key]` (and the comma that separated it); the text as it was when absent."""
    index = next((i for i, m in enumerate(obj.members) if m.key == key), None)
    if index is None:
        return text
    member = obj.members[index]
    start = _start_of_line_if_alone(text, member.key_start)
    if index + 1 < len(obj.members):
        end = _start_of_line_if_alone(text, obj.members[index + 1].key_start)
        return text[:start] + text[end:]
    if index == 0:  # the only member: the object becomes empty
        return text[:obj.start + 1] + text[obj.end - 1:] if "\n" not in text[obj.start:obj.end] \
            else text[:obj.start + 1] + "\n" + _line_indent(text, obj.start) + text[obj.end - 1:]
    previous = obj.members[index - 1]
    assert previous.comma is not None
    end = (member.comma + 1) if member.comma is not None else member.value.end
    if "\n" not in text[previous.value.end:member.key_start]:  # one line: ", <member>" goes (or "<member>,")
        return text[:previous.comma + (member.comma is not None)] + text[end:]
    # Several lines: the previous member's line stays whole, its comment too; its comma goes unless the file
    # ends members with commas (JSONC's trailing-comma style).
    line_end = _past_line_comment(text, previous.comma + 1)
    if member.comma is None:
        return text[:previous.comma] + text[previous.comma + 1:line_end] + text[end:]
    return text[:line_end] + text[end:]


def _past_line_comment(text: str, position: int) -> int:
    """The end of `position`'s line when only spaces and a // comment follow it there (the comment belongs to
    the member before), else `position`."""
    end = text.find("\n", position)
    end = len(text) if end < 0 else end
    rest = text[position:end].strip()
    return end if not rest or rest.startswith("//") else position


def _start_of_line_if_alone(text: str, position: int) -> int:
    """The start of `position`'s line when only whitespace precedes it there (so a removed member takes its
    whole line with it), else `position`."""
    line_start = text.rfind("\n", 0, position) + 1
    return line_start if not text[line_start:position].strip() else position
