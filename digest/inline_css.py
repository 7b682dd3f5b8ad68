"""CSS inlined into the email templates once, when they are loaded: mail clients that drop
<style> still get every style, and at-rules (the dark-mode media query) stay in <style>,
where clients that honour them find them. No message pays for inlining."""

from __future__ import annotations

import re
from collections.abc import Callable

from jinja2 import BaseLoader, Environment

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def inline_template(source: str, sheet: Callable[[], str] | None = None) -> str:
    """A template's source with its CSS in style attributes; a fragment (no <html>) takes
    the CSS of `sheet`. Jinja tags are set aside first: the HTML parser would escape them."""
    import css_inline  # only what renders mail needs it

    tags: list[str] = []

    def hide(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"JINJATAG{len(tags) - 1}X"

    hidden = _JINJA.sub(hide, source)
    if "<html" in source:
        inlined = css_inline.CSSInliner(keep_at_rules=True).inline(hidden)
    else:
        inlined = css_inline.inline_fragment(hidden, sheet() if sheet else "")
    return re.sub(r"JINJATAG(\d+)X", lambda m: tags[int(m.group(1))], inlined)


def style_sheet(source: str) -> str:
    """The CSS of a template's <style> element."""
    found = _STYLE.search(source)
    return found.group(1) if found else ""


class InliningLoader(BaseLoader):
    """Loads templates through `inner`; HTML templates under `prefix` come out inlined,
    fragments with the style sheet of the `sheet` template."""

    def __init__(self, inner: BaseLoader, prefix: str = "email/", sheet: str = "") -> None:
        self.inner = inner
        self.prefix = prefix
        self.sheet = sheet

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        # a page that extends another is inlined as its parent is: its blocks are not a fragment
        child = source.lstrip().startswith("{% extends")
        if template.startswith(self.prefix) and template.endswith(".html") and not child:

            def sheet() -> str:
                return style_sheet(self.inner.get_source(environment, self.sheet)[0])

            source = inline_template(source, sheet if self.sheet else None)
        return source, filename, uptodate
