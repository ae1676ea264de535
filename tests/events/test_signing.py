"""Signatures and body templates; the verification snippet in docs/events.md works."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from vestnik.events.signing import signature, signature_headers, verify
from vestnik.events.templates import TemplateError, check_template, render_template

SECRET = "0123456789abcdef0123"
DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = '{"x": "é"}'.encode()
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, body) == expected


def test_verify_accepts_fresh_and_refuses_tampered_stale_or_wrong_key() -> None:
    body = b'{"event_id": 1}'
    headers = signature_headers(SECRET, body)
    assert verify(SECRET, headers, body)
    assert not verify(SECRET, headers, body.replace(b"1", b"2"))
    assert not verify("another-secret-xxxx", headers, body)
    old = signature_headers(SECRET, body, timestamp=1_000_000)
    assert not verify(SECRET, old, body)
    assert verify(SECRET, old, body, now=1_000_100)
    assert not verify(SECRET, {}, body)
    rotated = dict(headers)
    rotated["X-Vestnik-Signature"] = "v1=" + "0" * 64 + ", " + headers["X-Vestnik-Signature"]
    assert verify(SECRET, rotated, body)


def _doc_snippet() -> Any:
    text = DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code, "docs/events.md has no python snippet"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    return namespace["vestnik_signature_ok"]


def test_documented_snippet_verifies_real_signatures() -> None:
    check = _doc_snippet()
    body = json.dumps({"event_id": 7, "finish_reason": "success_finish"}).encode()
    headers = signature_headers(SECRET, body)
    assert check(SECRET, headers, body)
    assert not check(SECRET, headers, body + b" ")
    assert not check("wrong-secret-00000000", headers, body)


def test_template_rendering_escapes_values() -> None:
    template = '{"id": {{call_session_id}}, "ext": "{{ external_id }}", "r": "{{finish_reason}}"}'
    out = render_template(
        template, {"call_session_id": 5, "external_id": 'a"b\\c', "finish_reason": None}
    )
    assert json.loads(out) == {"id": 5, "ext": 'a"b\\c', "r": ""}


@pytest.mark.parametrize("template", ["{{nope}}", "x {{call_session_id}} {{password}}"])
def test_unknown_template_variables_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        check_template(template)
