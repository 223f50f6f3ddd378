"""Kokoro's ONNX graph with its predicted durations as a second output, and the sessions that run it.

Kokoro predicts how many frames each input token lasts, then expands the tokens by those counts
before decoding: in the exported graph the speed input divides the summed duration logits, which are
rounded, clipped to at least one and cast to integers (``Div(…, speed) -> Round -> Clip -> Cast``).
That integer tensor is the model's own alignment: token *i* lasts ``durations[i] * 600`` samples of
the 24 kHz output (checked here: the audio is exactly ``600 * sum(durations)`` samples long). The
engine adds it to the graph's outputs in memory (the file on disk is untouched), found by that
pattern rather than by a node name, so the kokoro-onnx and Hub exports in any precision qualify.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SAMPLES_PER_FRAME = 600
DURATIONS = "flashtts_durations"
"""Name of the added output (an Identity of the duration tensor, so the name cannot clash)."""

_INT_TYPES = {6, 7}  # onnx TensorProto.INT32, INT64
_PASS_THROUGH = {"Round", "Clip", "Max", "Relu", "Ceil", "Floor", "Cast"}


def duration_tensor(model: Any, speed_input: str = "speed") -> str | None:
    """The name of the integer per-token duration tensor of a Kokoro graph, or None when the pattern
    is not there: from the ``Div`` by the speed input, the chain of rounding/clipping ops up to the
    first cast to an integer type."""
    consumers: dict[str, list[Any]] = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            consumers[name].append(node)
    speeds = {speed_input}
    frontier = [speed_input]
    while frontier:  # the speed input, possibly cast (fp16 exports) before it divides
        name = frontier.pop()
        for node in consumers[name]:
            if node.op_type == "Cast" and node.output[0] not in speeds:
                speeds.add(node.output[0])
                frontier.append(node.output[0])
    for node in model.graph.node:
        if node.op_type != "Div" or len(node.input) != 2 or node.input[1] not in speeds:
            continue
        current = node.output[0]
        for _ in range(8):
            nxt = [n for n in consumers[current] if n.op_type in _PASS_THROUGH]
            if len(nxt) != 1:
                break
            step = nxt[0]
            current = step.output[0]
            if step.op_type == "Cast" and any(a.name == "to" and a.i in _INT_TYPES for a in step.attribute):
                return current
    return None


def model_with_durations(path: Path) -> tuple[bytes | str, bool]:
    """``(model, timed)``: the model with :data:`DURATIONS` added as an output (serialised), or the path
    as it is when the graph has no duration pattern (then ``timed`` is False)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    if any(o.name == DURATIONS for o in model.graph.output):
        return str(path), True
    tensor = duration_tensor(model, _speed_input(model))
    if tensor is None:
        log.warning("no duration tensor found in %s: Kokoro word timings are off", path.name)
        return str(path), False
    model.graph.node.append(helper.make_node("Identity", [tensor], [DURATIONS], name=DURATIONS))
    model.graph.output.append(helper.make_tensor_value_info(DURATIONS, TensorProto.INT64, None))
    return model.SerializeToString(), True


def _speed_input(model: Any) -> str:
    names = [i.name for i in model.graph.input]
    return "speed" if "speed" in names else names[-1]


def session(model: bytes | str, threads: int, spin: bool = False) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (0: one per core)."""
    import onnxruntime

    from flashtts_engines.piper.session import session_options

    return onnxruntime.InferenceSession(model, sess_options=session_options(threads, spin),
                                        providers=["CPUExecutionProvider"])


def input_names(sess: Any) -> tuple[str, str, str, bool]:
    """``(tokens, style, speed, speed_is_float)`` input names of a Kokoro session (kokoro-onnx names its
    token input ``tokens``, the Hub's exports ``input_ids``)."""
    names = {i.name: i for i in sess.get_inputs()}
    tokens = "tokens" if "tokens" in names else "input_ids"
    if tokens not in names or "style" not in names or "speed" not in names:
        raise ValueError(f"not a Kokoro model: inputs {sorted(names)}; want tokens (or input_ids), style, speed")
    return tokens, "style", "speed", "float" in names["speed"].type
