"""XML read with Python's expat, hardened: no DTD, no entities, bounded size, depth and element count.

Why expat rather than a tokenizer of our own: expat (C, the parser behind ``xml.etree`` and every
Python XML library) already checks everything well-formedness asks for (nesting, names, quoting,
duplicate attributes, character references, encoding), reports line and column, and runs in
linear time without recursion. What makes XML dangerous is the DTD: entity declarations (billion
laughs, quadratic blow-up), external entities (files, URLs) and parameter entities. Here the
first ``<!DOCTYPE`` stops the parse before expat reads a single declaration (the handler raises,
which aborts ``Parse``); entity, notation and external-entity handlers raise too, in case one is
ever reached; parameter-entity parsing is off. Without a DTD a reference to any entity other than
the five XML predefines (``&amp;`` ...) is a well-formedness error. The text is checked first for
characters XML forbids (NUL, lone surrogates), and every element start counts against the depth and
element limits, so a hostile document is refused at the first element past a bound.
``defusedxml`` does the same with the same handlers; it is not a dependency for four handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from flashtts.ssml.limits import Limits, SSMLError, check_characters


@dataclass
class Element:
    """An element: its name (prefix kept, e.g. ``mstts:express-as``), attributes, where it starts
    (1-based line and column) and its children (elements and text, in order)."""

    tag: str
    attrs: dict[str, str]
    line: int
    column: int
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        """All text inside, elements' text included."""
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _Stop(Exception):
    """Raised inside an expat handler: aborts the parse with this error."""

    def __init__(self, error: SSMLError) -> None:
        super().__init__(str(error))
        self.error = error


def parse_xml(text: str, limits: Limits) -> Element:
    """The root element of ``text``; :class:`SSMLError` (with line and column) when it is not
    well-formed XML, declares a DTD or entities, or exceeds ``limits``."""
    if len(text) > limits.max_chars:
        raise SSMLError(f"the document is {len(text)} characters; the limit is {limits.max_chars}",
                        code="input_too_long")
    check_characters(text)
    parser = expat.ParserCreate(encoding="utf-8")  # the str is parsed as UTF-8 whatever the declaration says
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    stack: list[Element] = []
    root: list[Element] = []
    count = 0

    def fail(message: str, code: str) -> NoReturn:
        raise _Stop(SSMLError(message, line=parser.CurrentLineNumber, column=parser.CurrentColumnNumber + 1,
                              code=code))

    def refuse(what: str):
        def handler(*_args: object) -> NoReturn:
            fail(f"{what} are not allowed in SSML", "ssml_dtd_refused")
        return handler

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > limits.max_elements:
            fail(f"more than {limits.max_elements} elements", "ssml_too_many_elements")
        if len(stack) >= limits.max_depth:
            fail(f"elements nested more than {limits.max_depth} deep", "ssml_too_deep")
        element = Element(tag, attrs, parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(_tag: str) -> None:
        stack.pop()

    def data(chunk: str) -> None:
        if stack:
            stack[-1].children.append(chunk)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = refuse("DOCTYPE declarations")
    parser.EntityDeclHandler = refuse("entity declarations")
    parser.UnparsedEntityDeclHandler = refuse("entity declarations")
    parser.NotationDeclHandler = refuse("notation declarations")
    parser.ExternalEntityRefHandler = refuse("external entities")
    parser.SkippedEntityHandler = refuse("entity references")
    try:
        parser.Parse(text, True)
    except _Stop as stop:
        raise stop.error from None
    except expat.ExpatError as error:
        message = expat.ErrorString(error.code) if error.code is not None else str(error)
        raise SSMLError(f"malformed XML: {message}", line=error.lineno, column=error.offset + 1,
                        code="ssml_malformed") from None
    if not root:
        raise SSMLError("no root element", code="ssml_malformed")
    return root[0]
