"""The reference book across protocols: a page shows the newest protocol whose store completes its sections,
and its banner says which protocol it shows and how far the newer one is; the protocol files are checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hmnet.book.protocols import page_stores, protocol_line
from hmnet.protocol import ProtocolError, get_protocol, protocols
from hmnet.book.reproduce import PAGES, executed_path


def _protocol(directory: Path, name: str, store: str, sections: list[str]) -> None:
    doc = {"name": name, "profile": "local", "store": store, "registered": "2026-12-02", "settings": {},
           "sections": sections, "notebook_parameters": {}, "not_run": {}}
    (directory / f"local-{name}.json").write_text(json.dumps(doc))


def _store(root: Path, store: str, sections: dict[str, tuple[int, int]]) -> Path:
    folder = root / store
    (folder / "notebooks").mkdir(parents=True)
    manifest = {"profile": "local", "sections": {s: {"notebook": "03" if s == "table1" else "04", "complete": c,
                                                        "planned": p, "runs": []} for s, (c, p) in sections.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for s in PAGES:
        executed_path(folder, s).write_text("{}")
    return folder


def test_a_page_shows_the_newest_protocol_that_completes_it(tmp_path):
    protos, root = tmp_path / "protocols", tmp_path / "reference"
    protos.mkdir()
    _protocol(protos, "v1", "local", ["table1", "shared_layers"])
    _protocol(protos, "v2", "local-v2", ["table1", "shared_layers"])
    v1 = _store(root, "local", {"table1": (51, 51), "shared_layers": (21, 21)})
    v2 = _store(root, "local-v2", {"table1": (90, 90), "shared_layers": (3, 12)})
    chosen = page_stores("local", v1, root, protos)
    assert chosen["03"] == (v2, "v2"), "Table 1 is complete under v2"
    assert chosen["04"] == (v1, "v1"), "Figure 3 is not: its page stays on v1"
    line = protocol_line("local", "04", "v1", root, protos)
    assert "Protocol **v1**" in line and "Protocol v2 (registered 2026-12-02) runs them too: 3 of 12" in line
    assert protocol_line("local", "03", "v2", root, protos).count("Protocol") == 1, "nothing newer than v2"


def test_a_book_of_another_folder_shows_that_folder(tmp_path):
    protos = tmp_path / "protocols"
    protos.mkdir()
    _protocol(protos, "v1", "local", ["table1"])
    assert set(page_stores("local", tmp_path / "elsewhere", tmp_path, protos).values()) == {
        (tmp_path / "elsewhere", None)}


def test_protocol_files_are_checked(tmp_path):
    _protocol(tmp_path, "v1", "local", ["table1"])
    assert get_protocol("local", None, tmp_path).name == "v1"
    with pytest.raises(ProtocolError, match="protocol 'v7' is unknown for profile 'local'; known: v1"):
        get_protocol("local", "v7", tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "local-v3.json").write_text(json.dumps({"name": "v3", "profile": "local"}))
    with pytest.raises(ProtocolError, match=r"local-v3.json: missing field\(s\) \['store'"):
        protocols("local", bad)


def test_the_committed_protocols_plan_known_sections_and_name_their_stores():
    from hmnet.sections import registry

    SECTION_ORDER = registry().names

    known = protocols("local")
    assert "v1" in known and known["v1"].store == "local"
    for p in known.values():
        assert set(p.sections) <= set(SECTION_ORDER) and set(p.not_run) <= set(SECTION_ORDER)
        assert set(p.sections) | set(p.not_run) == set(SECTION_ORDER), f"{p.name}: every section planned or explained"
