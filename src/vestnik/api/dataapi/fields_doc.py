"""docs/data-api.md's field tables, rendered from the code's (one per list method).

``python -m vestnik.api.dataapi.fields_doc docs/data-api.md`` rewrites every block between
``<!-- fields: METHOD -->`` and ``<!-- /fields -->``; a test fails when the doc is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from vestnik.store.reports.calls import CALL_LEGS_REPORT, CALLS_REPORT
from vestnik.store.reports.lookups import BLACKLIST, MEDIA_FILES, VIRTUAL_NUMBERS
from vestnik.store.reports.pages import Dataset

DATASETS: dict[str, Dataset] = {
    "get.calls_report": CALLS_REPORT,
    "get.call_legs_report": CALL_LEGS_REPORT,
    "get.media_files": MEDIA_FILES,
    "get.virtual_numbers": VIRTUAL_NUMBERS,
    "get.blacklist_phone_numbers": BLACKLIST,
}
_BLOCK = re.compile(r"(<!-- fields: (\S+) -->\n).*?(<!-- /fields -->)", re.S)


def render(dataset: Dataset) -> str:
    """A markdown table: field, vendor type, flags (vestnik's extra in brackets), value."""
    lines = ["| field | type | flags | value in vestnik |", "|---|---|---|---|"]
    for name, spec in dataset.fields.items():
        flags = " ".join(spec.flags)
        if spec.more_flags:
            flags += f" ({' '.join(spec.more_flags)})"
        label = f"`{name}` (ours)" if spec.ours else f"`{name}`"
        value = spec.source if spec.expr is not None else ("`[]`" if spec.empty == [] else "null")
        lines.append(f"| {label} | {spec.vendor_type} | {flags} | {value} |")
    return "\n".join(lines) + "\n"


def rewrite(text: str) -> str:
    return _BLOCK.sub(lambda m: m[1] + render(DATASETS[m[2]]) + m[3], text)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
