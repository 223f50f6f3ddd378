"""How fast hostile SSML documents are refused, beside ordinary documents being read (in process).

Every document of ``tests/hostile_ssml.py`` (billion laughs, external entities, 10,000 nested
elements, 100,000 breaks, a 10-hour break, unclosed tags, NUL and surrogates in attributes...) is
read with :func:`flashtts.ssml.read` under the default limits; the script checks each is refused
with its expected code and reports the median time of ``--runs`` refusals. For scale, the same is
done for documents that are read: a 4 KB SSML document of every element, a 4 KB plain text with a
lexicon of 1,000 entries applied, and 4 KB of ``a `` against 1,000 keys that all start with ``a``
(the lexicon's worst case: every word is a candidate for every key). The issue's bound is "a 4xx in
well under 100 ms"; this is the parser's share of it (the HTTP route adds its own)::

    .venv/bin/python benchmarks/ssml_hostile.py --runs 25 --out docs/benchmarks/ssml_hostile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostile_ssml import HOSTILE  # noqa: E402

from flashtts.ssml import Entry, Lexicon, SSMLError, read  # noqa: E402

ORDINARY = (
    '<speak version="1.1" xml:lang="en-US"><p><s>The <sub alias="World Wide Web Consortium">W3C</sub> met on '
    '<say-as interpret-as="date" format="mdy">12/25/2024</say-as>.</s><s>Call <say-as interpret-as="telephone">'
    '+1 555-0123</say-as> <break time="300ms"/> or ask <say-as interpret-as="characters">NASA</say-as>.</s></p>'
    '<prosody rate="slow" pitch="+2st">A <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme> costs '
    '<say-as interpret-as="currency">$1.50</say-as>.</prosody> <voice name="joe"><emphasis>Really</emphasis> '
    "it does.</voice></speak>"
)


def _ordinary_ssml() -> str:
    body = ORDINARY.removeprefix('<speak version="1.1" xml:lang="en-US">').removesuffix("</speak>")
    return '<speak version="1.1" xml:lang="en-US">' + body * (4096 // len(body)) + "</speak>"


def _lexicon_text() -> tuple[str, Lexicon]:
    lexicon = Lexicon(Entry.make(f"term{i}", ipa="tɜːm", respelling=f"term number {i}") for i in range(1000))
    words = " ".join(f"term{i * 37 % 1000} and more words" for i in range(200))
    return words[:4096], lexicon


def _shared_lead() -> tuple[str, Lexicon]:
    """A hostile lexicon: 1,000 phrases that all start with the word every other word of the text is."""
    lexicon = Lexicon(Entry.make(f"a b{i}", respelling="x") for i in range(1000))
    return "a " * 2048, lexicon


def _median_ms(run, runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = parser.parse_args()

    rows = []
    for name, (document, code) in HOSTILE.items():
        def refuse(document: str = document, code: str = code, name: str = name) -> None:
            try:
                read(document)
            except SSMLError as error:
                if error.code != code:
                    raise SystemExit(f"{name}: refused as {error.code}, expected {code}") from None
                return
            raise SystemExit(f"{name}: was not refused")

        refuse()  # warm-up, and the check
        median, low, high = _median_ms(refuse, args.runs)
        rows.append({"document": name, "kind": "refused", "code": code, "chars": len(document),
                     "median_ms": round(median, 3), "min_ms": round(low, 3), "max_ms": round(high, 3)})
    ssml = _ordinary_ssml()
    text, lexicon = _lexicon_text()
    shared_text, shared = _shared_lead()
    for name, run, size in (("ordinary 4 KB SSML (read)", lambda: read(ssml), len(ssml)),
                            ("4 KB text, 1,000-entry lexicon (read)", lambda: read(text, lexicon=lexicon), len(text)),
                            ("4 KB of 'a ', 1,000 keys 'a b<i>' (read)", lambda: read(shared_text, lexicon=shared),
                             len(shared_text))):
        run()
        median, low, high = _median_ms(run, args.runs)
        rows.append({"document": name, "kind": "read", "code": "", "chars": size, "median_ms": round(median, 3),
                     "min_ms": round(low, 3), "max_ms": round(high, 3)})
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
               f"Python {platform.python_version()}")
    for row in rows:
        print(f"{row['document']:<42} {row['kind']:<8} {row['median_ms']:>9.3f} ms  (min {row['min_ms']:.3f}, "
              f"max {row['max_ms']:.3f})  {row['code']}")
    print(f"load average {load}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps({"machine": machine, "load": load, "runs": args.runs,
                                                        "rows": rows}, indent=1) + "\n", "utf-8")
        lines = [
            "# Hostile SSML: time to refuse, in process",
            "",
            f"`.venv/bin/python benchmarks/ssml_hostile.py --runs {args.runs} --out {args.out}`",
            "",
            f"Machine: {machine}. Medians of {args.runs} runs after a warm-up, default `flashtts.ssml.Limits` "
            "(100,000 characters, depth 32, 5,000 elements, 10 s per break, 60 s of breaks).",
            "",
            "| document | characters | outcome | median | min | max |",
            "|---|---|---|---|---|---|",
            *(f"| {r['document']} | {r['chars']:,} | {r['code'] or 'read'} | {r['median_ms']:.3f} ms | "
              f"{r['min_ms']:.3f} ms | {r['max_ms']:.3f} ms |" for r in rows),
            "",
            f"Load average at the end: {load} (2 cores shared with other work: absolute times are noisy, the "
            "order of magnitude is the point).",
            "",
        ]
        Path(f"{args.out}.md").write_text("\n".join(lines), "utf-8")


if __name__ == "__main__":
    main()
