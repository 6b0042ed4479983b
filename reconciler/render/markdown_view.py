"""Markdown view for pull-request comments: summary in a <details> header, a table per app.

A PR comment is rendered as GitHub Flavored Markdown with inline HTML, so an org string could do
more than forge a line: a `|` splits a table cell, a backtick closes a code span, `<` opens HTML,
`[x](url)` plants a link. Names therefore go into code spans built by `md_code` (which nothing
inside can close), and values and prose (error messages) through `md_value`/`md_text` (which
turn every character Markdown or HTML would act on into an entity). All start from `printable`,
so control characters are already visible escapes.
"""

from __future__ import annotations

import re

from ..display import printable, show
from ..model import Plan
from .text_view import summary_line

#: Characters that Markdown or HTML interpret inline; as entities they only display.
_MD_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>`|\\*_[]~"}
_MD_TABLE = str.maketrans(_MD_ENTITIES)


def md_text(text: object) -> str:
    """Outside text as inert Markdown prose (safe in table cells and list items)."""
    return printable(text).translate(_MD_TABLE)


def md_code(text: object, table: bool = False) -> str:
    """Outside text (a name) as a code span that shows its `printable` form verbatim."""
    return _code_span(printable(text), table)


def md_value(value: object) -> str:
    """A field value as the text view shows it (`show`), made inert Markdown like `md_text`."""
    return show(value).translate(_MD_TABLE)


def _code_span(content: str, table: bool) -> str:
    """A code span around text that is already `printable`.

    Inside a code span Markdown interprets nothing but a backtick run as long as the fence, so
    the fence is one backtick longer than the longest run in the text (CommonMark 6.1), with a
    space of padding where the text starts or ends with a backtick or a space. In a GFM table a
    `|` still ends the cell even inside a code span, unless written `\\|` (GFM spec 4.10).
    """
    if table:
        content = content.replace("|", "\\|")
    if not content:
        return "` `"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", content)), default=0) + 1)
    if content[0] in "` " or content[-1] in "` ":
        content = f" {content} "
    return f"{fence}{content}{fence}"


def render_markdown(plan: Plan) -> str:
    out = [f"### reconciler plan for org {md_code(plan.org_id)}", ""]
    if plan.errors:
        out.append("**Errors**")
        out.append("")
        out += [f"- {md_code(name)}: {md_text(error)}" for name, error in plan.errors]
        out.append("")
    out += ["<details open>", f"<summary>{md_text(summary_line(plan))}</summary>", ""]
    if plan.changes:
        out += ["| App | Field | Before | After | |", "|---|---|---|---|---|"]
        for c in plan.changes:
            flag = "enables a flow" if c.enables_flow else ""
            out.append(
                f"| {md_code(c.app, table=True)} | {md_code(c.path, table=True)} | "
                f"{md_value(c.before)} | {md_value(c.after)} "
                f"| {flag} |"
            )
        out.append("")
    out.append("</details>")
    return "\n".join(out) + "\n"
