"""Real document files made by the tests themselves (nothing downloaded): a PDF with a text layer on each page
(and optionally a page without one, as a scan has), a Word .docx with heading styles, and hostile variants."""

from __future__ import annotations

import io
import struct
import zipfile


def pdf(pages: list[str | None]) -> bytes:
    """A valid PDF: one page per item, each line of its text drawn with Helvetica (None: a page with no text,
    as a scanned page has). The cross-reference table has the real byte offsets."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font_number = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                       f"/Resources << /Font << /F1 {font_number} 0 R >> >> >>".encode())
        stream = _content(text) if text is not None else b""
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _content(text: str) -> bytes:
    lines = []
    for n, line in enumerate(text.split("\n")):
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        lines.append(f"BT /F1 11 Tf 72 {720 - 14 * n} Td ({escaped}) Tj ET")
    return "\n".join(lines).encode("latin-1")


def docx(paragraphs: list[tuple[str | None, str]], document_xml: bytes | None = None) -> bytes:
    """A .docx: (style, text) paragraphs, a style such as "Heading1" or None for body text."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(_paragraph(style, text) for style, text in paragraphs)
    xml = document_xml or (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                           f'<w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>').encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:  # fixed times: the same paragraphs, the same bytes
        archive.writestr(_entry("[Content_Types].xml"), '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                         'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                         'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        archive.writestr(_entry("word/document.xml"), xml)
    return out.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _paragraph(style: str | None, text: str) -> str:
    properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f'<w:p>{properties}<w:r><w:t xml:space="preserve">{_xml(text)}</w:t></w:r></w:p>'


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def docx_bomb(lying: bool = False) -> bytes:
    """A .docx whose text part unpacks to 200 MB of spaces from a few hundred kilobytes; `lying`: its headers
    claim 1,000 bytes (a reader that trusts them is fooled)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/document.xml", "w") as part:
            chunk = b" " * (1024 * 1024)
            for _ in range(200):
                part.write(chunk)
    data = out.getvalue()
    return data.replace(struct.pack("<I", 200 * 1024 * 1024), struct.pack("<I", 1000)) if lying else data


def docx_with_entities() -> bytes:
    xml = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
           b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
           b'<w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>')
    return docx([], document_xml=xml)
