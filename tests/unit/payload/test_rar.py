"""RAR through the payload core: libarchive reads it, nothing free writes it.

No Debian or PyPI package creates RAR archives (that needs RARLAB's non-free `rar`), so a
recording cannot be put into a RAR at test time. These tests use fixed archives from the
`rarfile` sdist's test fixtures (tests/unit/payload/data/README.md: origin, licence, hashes)
and check what can be checked without one: the walker recognises RAR by its bytes, opens
RAR 3 and RAR 5 archives (stored and compressed entries) and yields every file entry's bytes
under a label without its name, and what libarchive cannot read (encrypted, solid RAR 3)
is an encrypted container or an inspection error, never an empty, clean walk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.media import looks_like_media
from agent.payload import ExtractLimits, extract_payload
from agent.payload.budget import EncryptedContainer, ExpansionBudget
from agent.payload.containers import container_kind, open_container
from agent.payload.sniff import guarded
from agent.payload.types import Extraction

DATA = Path(__file__).parent / "data"
STEST = b"".join(b"%03d\n" % i for i in range(512))
"""rar5-crc.rar's two entries (one compressed, one stored)."""


def walk(name: str, content_type: str | None = "application/octet-stream") -> Extraction:
    return extract_payload((DATA / name).read_bytes(), content_type, None, ExtractLimits(), guarded(looks_like_media))


def entries(name: str) -> list[tuple[str, bytes]]:
    budget = ExpansionBudget(ExtractLimits())
    return [(e.label, e.data) for e in open_container("rar", (DATA / name).read_bytes(), budget, lambda h, s: True)]


@pytest.mark.parametrize("name", ["rar5-crc.rar", "rar3-subdirs.rar", "rar5-hpsw.rar"])
def test_rar_is_recognised_by_its_bytes(name: str) -> None:
    assert container_kind((DATA / name).read_bytes()[:4096]) == "rar"


def test_rar5_stored_and_compressed_entries() -> None:
    assert entries("rar5-crc.rar") == [("rar#0(.txt)", STEST), ("rar#1(.txt)", STEST)]


def test_rar3_entries_in_subdirectories_are_named_by_index_only() -> None:
    found = entries("rar3-subdirs.rar")
    assert sorted(data for _, data in found) == [b"file\n", b"file1\n", b"file2\n", b"long fn\n"]
    assert [label for label, _ in found] == [f"rar#{i}(.txt)" for i in range(4)]
    assert not any("file" in label or "sub" in label for label, _ in found)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "application/vnd.rar"])
def test_walker_opens_rar_whatever_its_declared_type(content_type: str | None) -> None:
    result = walk("rar5-crc.rar", content_type)
    assert result.containers == ["rar"]
    assert not result.errors
    assert not result.parts  # text entries, scanned for encoded media: there is none


def test_rar_with_encrypted_headers_is_an_encrypted_container() -> None:
    with pytest.raises(EncryptedContainer):
        entries("rar5-hpsw.rar")
    assert walk("rar5-hpsw.rar").encrypted == ["rar: rar content is encrypted"]


def test_rar_with_encrypted_data_is_never_a_clean_walk() -> None:
    """libarchive 3.6 (Debian 12) misreads encrypted RAR 5 file data as a bad header (an error);
    newer ones report encryption. Either fails closed to unapproved AI services."""
    result = walk("rar5-psw.rar")
    assert result.errors or result.encrypted
    assert not result.parts


def test_solid_rar3_libarchive_cannot_read_is_an_inspection_error() -> None:
    result = walk("rar3-solid.rar")
    assert result.errors, "a RAR libarchive cannot read must not pass as inspected"
    assert result.errors[0].startswith("rar: rar archive is corrupt")
    assert not result.parts
