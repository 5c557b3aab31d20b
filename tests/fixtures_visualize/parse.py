"""Read what a user would see in the produced SVG and HTML: drawn nodes and edges with their
classes and text, and a minimal element tree of an HTML page (stdlib only)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser

SVG = "{http://www.w3.org/2000/svg}"


@dataclass
class Drawn:
    """One drawn node or edge of a Graphviz SVG: its title, extra classes and visible text."""

    title: str
    classes: set[str]
    text: str
    element: ET.Element


def svg_items(svg: str, kind: str) -> list[Drawn]:
    """The ``<g class="node ...">`` (kind="node") or edge groups of ``svg``."""
    root = ET.fromstring(svg)
    found = []
    for g in root.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if not classes or classes[0] != kind:
            continue
        title = g.find(f"{SVG}title")
        text = " ".join("".join(t.itertext()) for t in g.iter(f"{SVG}text"))
        found.append(
            Drawn(
                title="" if title is None else (title.text or ""),
                classes=set(classes[1:]),
                text=text,
                element=g,
            )
        )
    return found


def nodes(svg: str) -> dict[str, Drawn]:
    return {d.title: d for d in svg_items(svg, "node")}


def edges(svg: str) -> dict[str, Drawn]:
    """Edges by ``source->target`` title (one per pair in the graphs these tests draw)."""
    return {d.title: d for d in svg_items(svg, "edge")}


def with_class(items: dict[str, Drawn], cls: str) -> set[str]:
    return {title for title, d in items.items() if cls in d.classes}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    parts: list[str | Element] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    def iter(self, tag: str | None = None) -> list[Element]:
        out = [self] if tag in (None, self.tag) else []
        for child in self.children:
            out.extend(child.iter(tag))
        return out

    def select(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        return [e for e in self.iter(tag) if cls is None or cls in e.classes]

    def by_id(self, ident: str) -> Element:
        return next(e for e in self.iter() if e.attrs.get("id") == ident)


_VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "source", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def html_tree(page: str) -> Element:
    builder = _Builder()
    builder.feed(page)
    builder.close()
    return builder.root
