"""Saying text right: SSML, a pronunciation lexicon and inline forms, read into one document model.

Pure Python (no web framework, no engine): the serving layer reads a request with :func:`read`
before a stream opens, and gets a :class:`Document` of segments (text spans, IPA spans, voice,
language, prosody) and pauses, or an :class:`SSMLError` with line and column. ``docs/ssml.md``
describes what is accepted; ``docs/design/ssml-wiring.md`` how it reaches the engines.
"""

from flashtts.ssml.inline import parse_inline
from flashtts.ssml.lexicon import Entry, Lexicon, LexiconFile, entries_from_json, parse_lexicon
from flashtts.ssml.limits import LexiconError, Limits, MarkupError, SSMLError
from flashtts.ssml.model import Document, Pause, Prosody, Segment, Span, words_of
from flashtts.ssml.parser import is_ssml, parse_ssml
from flashtts.ssml.reading import plain, read
from flashtts.ssml.timing import Timeline, WordSlot, document_words, relabel, word_slots

__all__ = [
    "Document", "Entry", "Lexicon", "LexiconError", "LexiconFile", "Limits", "MarkupError", "Pause", "Prosody",
    "SSMLError", "Segment", "Span", "Timeline", "WordSlot", "document_words", "entries_from_json", "is_ssml",
    "parse_inline", "parse_lexicon", "parse_ssml", "plain", "read", "relabel", "word_slots", "words_of",
]
