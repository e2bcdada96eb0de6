"""The data files under tests/data are the documented copies, unchanged."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
_ROW = re.compile(r"^\| `(?P<file>[^`]+)` \|.*\| `(?P<sha>[0-9a-f]{64})` \|$", re.MULTILINE)


def test_every_data_file_is_listed_with_its_checksum_and_matches_it() -> None:
    listed = {m["file"]: m["sha"] for m in _ROW.finditer((DATA / "PROVENANCE.md").read_text())}
    present = {str(p.relative_to(DATA)) for p in DATA.rglob("*.gz")}
    assert present == set(listed)
    for name, sha in listed.items():
        assert hashlib.sha256(gzip.decompress((DATA / name).read_bytes())).hexdigest() == sha, name
