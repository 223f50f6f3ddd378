"""``make test``: the whole suite as two pytest runs at once, one per lane, so that a 2-core machine keeps
both cores busy.

* ``models``: the model tests (``tests/qwen3``, ``tests/vllm``, Kokoro, the Hub): PyTorch and vLLM on tiny
  checkpoints, most pinned to one thread, checked against reference frames, samples and speech
  recognition, never against the clock beyond generous bounds. On their own they leave the second core
  idle most of the time.
* ``serving``: everything else (real Piper servers, browsers, Ray, the in-process serving tests).

The serving lane prints as it runs; the models lane's output follows once both are done. The exit
status is the first non-zero lane's. Arguments go to both runs (``--durations=40``, ``-x``, ``-k``); with
a test path among them there is one run, as plain pytest.

    python tools/test_lanes.py [PYTEST_ARGS...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("tests/qwen3", "tests/vllm", "tests/test_kokoro.py", "tests/test_kokoro_cjk.py",
          "tests/test_kokoro_engine.py", "tests/test_hub.py")
BASE = [sys.executable, "-m", "pytest", "-q", "-ra"]


def names_a_path(args: list[str]) -> bool:
    """An argument that names tests (a file, folder or node id) rather than an option."""
    return any(not a.startswith("-") and (ROOT / a.split("::")[0]).exists() for a in args)


def main(args: list[str]) -> int:
    if names_a_path(args):
        return subprocess.call(BASE + args, cwd=ROOT)
    lanes = {
        "models": BASE + ["-p", "no:cacheprovider", *MODELS, *args],
        "serving": BASE + ["tests", *(f"--ignore={m}" for m in MODELS), *args],
    }
    t0 = time.monotonic()
    ended: dict[str, float] = {}
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as models_out:
        models = subprocess.Popen(lanes["models"], cwd=ROOT, stdout=models_out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        waiter = threading.Thread(target=lambda: (models.wait(), ended.setdefault("models", time.monotonic() - t0)))
        waiter.start()
        try:
            serving_rc = subprocess.call(lanes["serving"], cwd=ROOT)
            ended["serving"] = time.monotonic() - t0
            waiter.join()
        except BaseException:
            models.kill()
            raise
        models_rc = models.returncode
        models_out.seek(0)
        print(f"\n===== lane models ({', '.join(MODELS)}): exit {models_rc} =====", flush=True)
        sys.stdout.write(models_out.read())
    print(f"\n===== lanes: serving exit {serving_rc} ({ended['serving']:.0f} s), models exit {models_rc} "
          f"({ended['models']:.0f} s); wall {time.monotonic() - t0:.0f} s =====", flush=True)
    return serving_rc or models_rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
