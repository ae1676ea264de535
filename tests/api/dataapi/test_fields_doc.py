"""docs/data-api.md shows the code's field tables (regenerate with the module's command)."""

from __future__ import annotations

from pathlib import Path

from vestnik.api.dataapi.fields_doc import DATASETS, render, rewrite

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-api.md"


def test_doc_has_every_table_as_the_code_renders_it() -> None:
    text = DOC.read_text(encoding="utf-8")
    for method, dataset in DATASETS.items():
        assert f"<!-- fields: {method} -->\n{render(dataset)}<!-- /fields -->" in text, method
    assert rewrite(text) == text


def test_rewrite_replaces_a_stale_table() -> None:
    stale = "x\n<!-- fields: get.media_files -->\n| old |\n<!-- /fields -->\ny\n"
    fresh = rewrite(stale)
    assert "| old |" not in fresh and "`play_link`" in fresh and fresh.endswith("-->\ny\n")
