"""Inline forms in plain text, as Kokoro-FastAPI reads them: ``[word](/IPA/)`` and pauses.

* ``[Kokoro](/kˈOkəɹO/)``: say ``Kokoro`` with that pronunciation (phoneme engines; text engines say
  the word as written). A bracket pair whose "pronunciation" is not IPA (``[docs](/v1/)``) is left as
  it is;
* ``[pause:0.5s]``, ``[pause:700ms]`` and Kokoro-FastAPI's own ``[silent 0.5s]``: silence of that length.

They are read only when the request normalises its text (``normalize``, the default) and is not SSML;
in SSML, ``<phoneme>`` and ``<break>`` say the same.
"""

from __future__ import annotations

import re

from flashtts.ssml import values
from flashtts.ssml.ipa import check_ipa
from flashtts.ssml.limits import Limits, SSMLError, position
from flashtts.ssml.model import Document, DocumentBuilder, Span

_FORM = re.compile(
    r"\[(?P<word>[^\[\]\n]{1,100})\]\(/(?P<ipa>[^/()\n]{1,200})/\)"
    r"|\[pause:\s?(?P<time>[^\]\n]{1,20})\]"
    r"|\[silent\s(?P<silent>\d{0,6}\.?\d{1,6}s)\]",
    re.IGNORECASE,
)


def has_inline_forms(text: str) -> bool:
    return _FORM.search(text) is not None


def parse_inline(text: str, limits: Limits | None = None) -> Document:
    """``text`` with its inline forms as spans and pauses (``source`` ``inline``; ``text`` when it has none).
    A pause that is not a time, or longer than ``limits`` allow, is an :class:`SSMLError` saying where."""
    limits = limits or Limits()
    out = DocumentBuilder(collapse=False)
    at = 0
    found = False
    paused = 0.0
    for m in _FORM.finditer(text):
        spoken = m.group("time") or m.group("silent")
        if spoken is not None:
            line, column = position(text, m.start())
            try:
                seconds = values.seconds(spoken)
            except ValueError as exc:
                raise SSMLError(f"{m.group(0)[:40]}: {exc}", line=line, column=column, code="invalid_pause") from None
            if seconds > limits.max_break:
                raise SSMLError(f"a pause of {seconds:g} s is longer than the {limits.max_break:g} s limit",
                                line=line, column=column, code="ssml_break_too_long")
            paused += seconds
            if paused > limits.max_pause_total:
                raise SSMLError(f"pauses add up to more than {limits.max_pause_total:g} s", line=line,
                                column=column, code="ssml_break_too_long")
            out.span(Span(text[at:m.start()]))
            out.pause(seconds)
        else:
            try:
                ipa = check_ipa(m.group("ipa"))
            except ValueError:
                continue  # not a pronunciation (a Markdown link to a path): left as written
            out.span(Span(text[at:m.start()]))
            out.span(Span(" ".join(m.group("word").split()), kind="inline", ipa=ipa))
        found = True
        at = m.end()
    out.span(Span(text[at:]))
    return out.build("inline" if found else "text")
