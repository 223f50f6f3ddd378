"""Where the live paths import the sentence cutter from until the package moves (issue 19): it is
:class:`flashtts.text.SentenceCutter`, the one cutter HTTP requests are split with too."""

from __future__ import annotations

from flashtts.text import SentenceCutter

__all__ = ["SentenceCutter"]
