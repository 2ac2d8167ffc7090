"""A file's bytes as blocks of text, each with the page and the heading trail it sits under; one reader per
format, each refusing what it cannot read safely with one line (DocumentError) before anything is stored.

- PDF: pypdf, the text layer page by page; a page without text (a scan) is counted and reported, and a
  document with no text at all is refused (OCR is not done here).
- Markdown: markdown-it-py's tokens give the headings (the trail) and the blocks under them.
- HTML: the standard library's parser; scripts, styles and templates are dropped, headings kept.
- Word (.docx): the standard library's zipfile and XML parser on word/document.xml; sizes checked before
  anything is decompressed (a zip bomb is refused), a DOCTYPE is refused (no entity expansion), nothing
  in the file is run.
- Plain text (UTF-8, or UTF-16 with its mark); bytes that are not text are refused, whatever the name says.
- JSON and CSV: one block per record (an object or a row, as `key: value` lines).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Any
from xml.etree import ElementTree

MAX_PAGES = 2000
MAX_DOCX_XML = 64 * 1024 * 1024  # word/document.xml uncompressed, at most
MAX_RATIO = 200  # uncompressed / compressed, at most, for any part we read
FORMATS = {".pdf": "pdf", ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text",
           ".rst": "text", ".log": "text", ".html": "html", ".htm": "html", ".docx": "docx", ".json": "json",
           ".csv": "csv"}


class DocumentError(ValueError):
    """This file cannot be ingested; the message says why and what to do."""


@dataclass(frozen=True)
class Block:
    text: str
    page: int | None = None
    headings: tuple[str, ...] = ()


@dataclass
class Document:
    format: str
    blocks: list[Block] = field(default_factory=list)
    empty_pages: list[int] = field(default_factory=list)  # PDF pages without a text layer (scans)


def format_of(name: str) -> str:
    found = FORMATS.get(PurePath(name).suffix.lower())
    if found is None:
        raise DocumentError(f"{name}: not a format read here (PDF, Markdown, text, HTML, .docx, JSON, CSV)")
    return found


def read(data: bytes, name: str) -> Document:
    kind = format_of(name)
    try:
        document = _READERS[kind](data, name)
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - any file may be hostile: a reader's failure is this file's, said in a line
        raise DocumentError(f"{name}: cannot be read as {kind} ({type(exc).__name__}: {exc})"[:300]) from exc
    document.blocks = [b for b in document.blocks if b.text.strip()]
    if not document.blocks:
        scans = f" ({len(document.empty_pages)} page(s) without a text layer: a scan needs OCR first)" \
            if document.empty_pages else ""
        raise DocumentError(f"{name}: no text found{scans}")
    return document


def _pdf(data: bytes, name: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    document = Document("pdf")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentError(f"{name}: the PDF is encrypted; save an unprotected copy to ingest it")
        if len(reader.pages) > MAX_PAGES:
            raise DocumentError(f"{name}: {len(reader.pages)} pages; at most {MAX_PAGES} are read at once")
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if not text.strip():
                document.empty_pages.append(number)
            for paragraph in _paragraphs(text):
                document.blocks.append(Block(paragraph, page=number))
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
        raise DocumentError(f"{name}: not a readable PDF ({type(exc).__name__}: {exc})"[:300]) from exc
    return document


MARKDOWN_BLOCKS = {"paragraph_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "table_open", "fence",
                   "code_block", "html_block"}


def _markdown(data: bytes, name: str) -> Document:
    from markdown_it import MarkdownIt

    text = _text_of(data, name)
    document, trail = Document("markdown"), list[str]()
    lines = text.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            level = int(token.tag[1])
            trail = [*trail[:level - 1], tokens[index + 1].content.strip()]
        elif token.level == 0 and token.map and token.type in MARKDOWN_BLOCKS:
            start, end = token.map
            document.blocks.append(Block("\n".join(lines[start:end]).strip(), headings=tuple(trail)))
    return document


def _text(data: bytes, name: str) -> Document:
    return Document("text", [Block(p) for p in _paragraphs(_text_of(data, name))])


class _HtmlText(HTMLParser):
    SKIP = {"script", "style", "template", "noscript", "head", "svg"}
    BLOCKS = {"p", "div", "li", "tr", "pre", "blockquote", "section", "article", "br", "td", "th", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.trail: list[str] = []
        self.current: list[str] = []
        self.heading: int | None = None
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.flush()
            self.heading = int(tag[1])
        elif tag in self.BLOCKS:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.heading is not None:
            title = " ".join("".join(self.current).split())
            self.trail = [*self.trail[:self.heading - 1], title] if title else self.trail
            self.current, self.heading = [], None
        elif tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.current.append(data)

    def flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text and self.heading is None:
            self.blocks.append(Block(text, headings=tuple(self.trail)))
        if self.heading is None:
            self.current = []


def _html(data: bytes, name: str) -> Document:
    parser = _HtmlText()
    parser.feed(_text_of(data, name))
    parser.close()
    parser.flush()
    return Document("html", parser.blocks)


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(data: bytes, name: str) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            limit = min(MAX_DOCX_XML, MAX_RATIO * max(info.compress_size, 1))
            xml = _unpacked(archive, info, limit, name)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, EOFError, zlib.error) as exc:
        raise DocumentError(f"{name}: not a Word .docx file ({exc})") from exc
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in xml[:4096]:
        raise DocumentError(f"{name}: its text part is not UTF-8 XML; refused (Word writes UTF-8)")
    if b"<!DOCTYPE" in xml.upper() or b"<!ENTITY" in xml.upper():
        raise DocumentError(f"{name}: the document declares a DOCTYPE or entities; refused (Word never writes them)")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise DocumentError(f"{name}: its text part is not well-formed XML ({exc})") from exc
    document, trail = Document("docx"), list[str]()
    for paragraph in root.iter(f"{W}p"):
        text = "".join(node.text or "" for node in paragraph.iter(f"{W}t")).strip()
        style = paragraph.find(f"{W}pPr/{W}pStyle")
        level = _heading_level(style.get(f"{W}val", "") if style is not None else "")
        if level and text:
            trail = [*trail[:level - 1], text]
        elif text:
            document.blocks.append(Block(text, headings=tuple(trail)))
    return document


def _unpacked(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, name: str) -> bytes:
    """A part of the archive, decompressed a piece at a time and refused as soon as it passes `limit` (the size
    its header declares is not trusted: a bomb can lie about it)."""
    out, total = [], 0
    with archive.open(info) as part:
        while chunk := part.read(1024 * 1024):
            total += len(chunk)
            if total > limit:
                raise DocumentError(f"{name}: its text part unpacks to more than {limit:,} bytes; refused (a "
                                    "compressed bomb, or a document too large to read at once)")
            out.append(chunk)
    return b"".join(out)


def _heading_level(style: str) -> int | None:
    """Word's heading styles by their id: Heading1..9 (German Berschrift1, French Titre1), Title as level 1."""
    if style.lower() == "title":
        return 1
    match = re.fullmatch(r"(?i)(?:heading|berschrift|titre)\s*([1-9])", style)
    return int(match.group(1)) if match else None


def _json(data: bytes, name: str) -> Document:
    try:
        value = json.loads(_text_of(data, name))
    except ValueError as exc:
        raise DocumentError(f"{name}: not valid JSON ({exc})") from exc
    records = value if isinstance(value, list) else [value]
    return Document("json", [Block(_record(r), headings=(f"record {i + 1}",)) for i, r in enumerate(records)])


def _csv(data: bytes, name: str) -> Document:
    text = _text_of(data, name)
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise DocumentError(f"{name}: not readable CSV ({exc})") from exc
    return Document("csv", [Block(_record(r), headings=(f"row {i + 1}",)) for i, r in enumerate(rows)])


def _record(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}"
                         for k, v in value.items() if v not in (None, ""))
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _text_of(data: bytes, name: str) -> str:
    """The bytes as text: UTF-8 (a BOM allowed) or UTF-16 with its BOM; anything else is not a text file."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"{name}: broken UTF-16 text ({exc.reason})") from exc
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{name}: binary data, not text (whatever its name says)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8 to ingest it") from exc


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


_READERS = {"pdf": _pdf, "markdown": _markdown, "text": _text, "html": _html, "docx": _docx, "json": _json,
            "csv": _csv}
