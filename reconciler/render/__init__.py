"""Views of a Plan. Each output format is a small function of the same Plan object."""

from .json_view import render_json
from .markdown_view import render_markdown
from .text_view import render_text

RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}

__all__ = ["RENDERERS", "render_json", "render_markdown", "render_text"]
