"""``deploy/grafana/vestnik.json``: a well-formed Grafana dashboard whose every query names only
metrics a real running vestnik exports at ``/metrics`` (after a real call, so that the
labelled series exist; families still without a series count by their declared type)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.console import ConsoleStack, wait_for

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "vestnik.json"
PANEL_TYPES = {"row", "timeseries", "stat", "state-timeline", "gauge", "table", "bargauge"}
# What the sample names of a family are, by its declared type.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"), "gauge": ("",), "untyped": ("",)}  # fmt: skip
# PromQL words that look like names: aggregations, operators, modifiers, literals.
KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "and", "or", "unless", "offset", "atan2", "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?\d+[smhdwy]", re.I)
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_NAME = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: every identifier left once strings, label
    matchers, label lists (by, on, …), ranges, offsets and Grafana variables are removed, but
    for functions (a name before "(") and keywords."""
    text = _STRING.sub('""', expr)
    text = _VARIABLE.sub("1", text)
    text = _MATCHERS.sub("", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _RANGE.sub("", text)
    text = _OFFSET.sub("", text)
    return {name for name, call in _NAME.findall(text) if not call and name.lower() not in KEYWORDS}


def exported_names(exposition: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names |= {sample.name for sample in family.samples}
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", text)
            yield f"variable {variable['name']}", inner.group(1) if inner else text


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = list(dashboard["panels"])
    return panels + [inner for p in panels for inner in p.get("panels", [])]


def missing(dashboard: dict[str, Any], exported: set[str]) -> dict[str, set[str]]:
    found = {where: metric_names(expr) - exported for where, expr in queries(dashboard)}
    return {where: names for where, names in found.items() if names}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def test_names_are_read_from_promql_without_functions_labels_or_durations() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, method) (rate(a_bucket{method=~"x|y",le!="1"}'
        "[$__rate_interval] offset 1h))) / on (instance) group_left (job) b:rule unless "
        'c_total{x="sum(d)"} > bool 1e3 and min without (worker) (e) * inf'
    )
    assert metric_names(expr) == {"a_bucket", "b:rule", "c_total", "e"}
    assert metric_names('max(x[5m:1m]) + count(y{instance=~"$instance"})') == {"x", "y"}


def test_the_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    assert dashboard["title"] and dashboard["uid"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    sources = {v["name"] for v in dashboard["templating"]["list"] if v["type"] == "datasource"}
    assert sources == {"datasource"}
    panels = all_panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24 and box["h"] > 0, panel["title"]
        mine = {(x, y) for x in range(box["x"], box["x"] + box["w"])
                for y in range(box["y"], box["y"] + box["h"])}  # fmt: skip
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["description"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        targets = panel["targets"]
        assert targets and len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["datasource"]["uid"] == "${datasource}"
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            assert metric_names(expr), f"{panel['title']}: no metric in {expr}"


def test_every_metric_the_dashboard_names_is_exported(
    dashboard: dict[str, Any], tmp_path: Path, sqlite_url: str
) -> None:
    with ConsoleStack(tmp_path, sqlite_url) as stack:
        token = stack.account("acme")
        call = stack.call(token, "79161234567")
        wait_for(lambda: stack.session(call)["state"] == "finished", 30, "the call's end")
        exposition = httpx.get(f"{stack.url}/metrics", timeout=10).text
    exported = exported_names(exposition)
    # Series that exist only once something happened are there: the call was counted.
    assert "vestnik_call_time_to_answer_seconds_bucket" in exported
    assert 'vestnik_api_requests_total{method="start.informer_call"' in exposition
    assert missing(dashboard, exported) == {}
    # The check can fail: a dashboard naming a metric vestnik does not export is caught.
    tampered = copy.deepcopy(dashboard)
    target = next(p for p in all_panels(tampered) if p.get("targets"))["targets"][0]
    target["expr"] = target["expr"].replace("vestnik_", "vestnik_no_such_", 1)
    [(where, names)] = missing(tampered, exported).items()
    assert where.startswith("panel ") and len(names) == 1
    assert next(iter(names)).startswith("vestnik_no_such_")
