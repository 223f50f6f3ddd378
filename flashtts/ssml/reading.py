"""The one entry point: a request's text as a :class:`~flashtts.ssml.model.Document`."""

from __future__ import annotations

from flashtts.ssml.inline import parse_inline
from flashtts.ssml.lexicon import Lexicon
from flashtts.ssml.limits import Limits
from flashtts.ssml.model import Document, DocumentBuilder, Span
from flashtts.ssml.parser import is_ssml, parse_ssml


def plain(text: str) -> Document:
    """``text`` as one segment said as written."""
    out = DocumentBuilder(collapse=False)
    out.span(Span(text))
    return out.build("text")


def read(text: str, *, normalize: bool = True, lexicon: Lexicon | None = None,
         limits: Limits | None = None) -> Document:
    """What ``text`` asks to be said: an SSML document when it is one (:func:`is_ssml`), else plain text
    with its inline forms read when ``normalize`` is on; then ``lexicon`` applied to the text said as
    written. :class:`~flashtts.ssml.limits.SSMLError` when the markup is bad or asks too much."""
    if is_ssml(text):
        document = parse_ssml(text, limits)
    elif normalize:
        document = parse_inline(text, limits)
    else:
        document = plain(text)
    return lexicon.apply(document) if lexicon else document
