"""Offline checks of the escaping every human view relies on (issue 6.5).

The strongest property is that `printable` can be decoded back: two different inputs never
give the same output, so no org string can imitate an escape (or a newline) it did not contain.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import pytest

from reconciler.display import printable, show
from reconciler.model import LEVEL_ORDER, AppPlan, AuditReport, Plan, RiskContext
from reconciler.render.audit_views import render_audit_text
from reconciler.render.markdown_view import md_code, md_text, md_value
from reconciler.render.sarif_view import sarif_text
from reconciler.render.text_view import render_text

BIDI = [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
C0_DEL_C1 = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
HOSTILE = [
    "Standard User\nPlan: 0 apps to change.",
    "name\x1b[2K\x1b[1A",
    "abc\u202edef",
    "literal \\n, not a newline",  # the text an attacker would type to fake an escape
    "\\x1b and \\u202e typed out",
    "tab\there\rcr\x00nul\x7fdel\x85nel\x9bcsi",
    "\\\n\\",
]


def decode(text: str) -> str:
    """The inverse of `printable`: proves the escaping is unambiguous."""
    named = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}

    def one(m: re.Match[str]) -> str:
        body = m.group(1)
        if body in named:
            return named[body]
        return chr(int(body[1:], 16))

    return re.sub(r"\\(\\|n|t|r|x[0-9a-f]{2}|u[0-9a-f]{4})", one, text)


@pytest.mark.parametrize("code", C0_DEL_C1 + BIDI)
def test_every_control_character_becomes_a_visible_escape(code: int) -> None:
    out = printable(f"a{chr(code)}b")
    assert chr(code) not in out
    assert out.isprintable(), repr(out)
    assert decode(out) == f"a{chr(code)}b"


def test_named_escapes_and_formats() -> None:
    assert printable("a\nb\tc\rd\x1be") == r"a\nb\tc\rd\x1be"
    assert printable("\x00\x7f\x85\x9f") == r"\x00\x7f\x85\x9f"
    assert printable("\u202e\u2066\u200f") == r"\u202e\u2066\u200f"


def test_backslash_is_doubled_so_escapes_cannot_be_forged() -> None:
    assert printable("\\n") == "\\\\n"
    assert printable("\\n") != printable("\n")
    for text in HOSTILE:
        assert decode(printable(text)) == text, text


def test_no_output_character_is_a_line_break_or_control() -> None:
    everything = "".join(chr(c) for c in range(0x3000))
    out = printable(everything)
    assert out.splitlines() == [out]  # str.splitlines knows every Unicode line break
    assert not [c for c in out if unicodedata.category(c) == "Cc"]
    assert not [c for c in out if ord(c) in BIDI]


def test_ordinary_text_is_unchanged() -> None:
    text = "Billing_Sync: run as billing.integration@acme.example (Ünïcødé, 日本語, emoji 🚀)"
    assert printable(text) == text
    assert printable(None) == "None"
    assert printable(30) == "30"


def test_show_quotes_strings_and_escapes_inner_quotes_and_list_items() -> None:
    assert show('a" -> "b') == r'"a\" -> \"b"'
    assert show("x\ny") == r'"x\ny"'
    assert show(["Standard User\nPlan: 0", "b"]) == r"[Standard User\nPlan: 0, b]"
    assert (show(None), show(True), show(False), show(90)) == ("(unset)", "true", "false", "90")


def test_md_text_makes_markdown_and_html_inert() -> None:
    out = md_text("a|b `c` <img src=x> [l](u) *e* _u_ ~s~ & \\ \n")
    assert out == (
        "a&#124;b &#96;c&#96; &#60;img src=x&#62; &#91;l&#93;(u) &#42;e&#42; &#95;u&#95; "
        "&#126;s&#126; &#38; &#92;&#92; &#92;n"
    )
    assert md_value("x|<b>") == '"x&#124;&#60;b&#62;"'


@pytest.mark.parametrize(
    ("text", "table", "expected"),
    [
        ("Billing_Sync", False, "`Billing_Sync`"),
        ("a`b", False, "``a`b``"),
        ("a``b`", False, "``` a``b` ```"),
        ("`x", False, "`` `x ``"),
        ("a|b", True, "`a\\|b`"),
        ("a|b", False, "`a|b`"),
        ("x\ny", False, "`x\\ny`"),
        ("", False, "` `"),
    ],
)
def test_md_code_span_cannot_be_closed_from_inside(text: str, table: bool, expected: str) -> None:
    assert md_code(text, table=table) == expected


def test_sarif_text_neutralises_placeholders_and_links() -> None:
    assert sarif_text("App [x](1) {0}\n") == r"App \[x\](1) {{0}}\n"


def test_level_order_ranks_unknown_right_after_high() -> None:
    assert sorted(LEVEL_ORDER, key=LEVEL_ORDER.__getitem__) == ["high", "unknown", "medium", "low"]


def _risk(level: str) -> RiskContext:
    """A RiskContext with every other required field empty (tolerates new fields)."""
    required = {
        f.name: None
        for f in dataclasses.fields(RiskContext)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return RiskContext(**{**required, "level": level, "run_as": None})


def test_text_and_audit_views_render_unknown_level_after_high() -> None:
    levels = {"A_low": "low", "B_medium": "medium", "C_unknown": "unknown", "D_high": "high"}
    plan = Plan("00D", "https://x", "digest", "now", [])
    for name, level in levels.items():
        plan.apps.append(AppPlan(name, risk=_risk(level)))
    expected = ["[HIGH] D_high", "[UNKNOWN] C_unknown", "[MEDIUM] B_medium", "[LOW] A_low"]
    heads = [line.split(":")[0].strip() for line in render_text(plan).splitlines()]
    assert [h for h in heads if h.startswith("[")] == expected

    report = AuditReport(
        "00D", "https://x", "now", ["ECA-OAUTH-001"], list(levels), [],
        {name: _risk(level) for name, level in levels.items()},
    )  # fmt: skip
    heads = [line.split(":")[0].strip() for line in render_audit_text(report).splitlines()]
    assert [h for h in heads if h.startswith("[")] == expected


def test_a_level_the_views_do_not_know_sorts_last_instead_of_crashing() -> None:
    risks = {"A_new": _risk("brand_new\nPlan: 0"), "B_low": _risk("low")}
    plan = Plan("00D", "https://x", "digest", "now", [AppPlan(n, risk=r) for n, r in risks.items()])
    report = AuditReport("00D", "https://x", "now", [], list(risks), [], risks)
    for out in (render_text(plan), render_audit_text(report)):
        heads = [line.strip() for line in out.splitlines() if line.startswith("  [")]
        assert heads[0].startswith("[LOW] B_low"), heads
        assert heads[1].startswith(r"[BRAND_NEW\nPLAN: 0] A_new"), heads
