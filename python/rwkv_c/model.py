"""`from rwkv_c.model import RWKV`: the official `rwkv` pip package's model class over librwkv.

    model = RWKV(model="RWKV-x070-World-0.1B-...-ctx4096", strategy="cpu fp32")
    out, state = model.forward(tokens, None)       # logits after the last token
    out, state = model.forward([token], state)     # continue

What differs from the official class (docs/PYTHON.md): logits are numpy float32 arrays (or
array('f') without numpy) instead of torch tensors; the state is an rwkv_c State object (copy it
with copy.deepcopy(state) or state.copy(), as with the official list of tensors) instead of a
list of tensors; the strategy's device must be "cpu" (or "vulkan"), and its dtype does not
convert the weights: they are used as stored in the file, with fp32 activations.
"""
import os
import re
from types import SimpleNamespace

from .core import Model, State

__all__ = ["RWKV", "parse_strategy"]

_DTYPES = {"fp32", "fp16", "bf16", "fp32i8", "fp16i8", "bf16i8"}


def parse_strategy(strategy):
    """Parses an official strategy string ("cpu fp32", "cuda fp16 *10 -> cpu fp32", ...) into
    a device for librwkv ("cpu" or "vulkan"). Raises ValueError with the reason for what does
    not apply here."""
    if not isinstance(strategy, str) or not strategy.strip():
        raise ValueError("strategy: a string such as 'cpu fp32'")
    devices = set()
    for part in strategy.split("->"):
        words = part.split()
        if len(words) < 2 or len(words) > 3:
            raise ValueError("strategy '%s': each part is 'DEVICE DTYPE [*N[+]]'" % strategy)
        device, dtype = words[0], words[1]
        if dtype not in _DTYPES:
            raise ValueError("strategy '%s': unknown dtype '%s' (one of %s)"
                             % (strategy, dtype, ", ".join(sorted(_DTYPES))))
        if len(words) == 3 and not re.fullmatch(r"\*\d+\+?", words[2]):
            raise ValueError("strategy '%s': '%s' is not a layer count '*N' or '*N+'"
                             % (strategy, words[2]))
        if dtype.endswith("i8"):
            raise ValueError(
                "strategy '%s': %s quantizes the weights at load in the official package; in "
                "rwkv_c the model file decides the weight type: convert once with `rwkv quantize "
                "MODEL OUT.gguf --type int8` and load OUT.gguf with 'cpu fp32'" % (strategy, dtype))
        base = device.split(":")[0]
        if base == "cpu":
            devices.add("cpu")
        elif base == "vulkan":
            devices.add(device)
        elif base in ("cuda", "mps", "privateuseone", "dml"):
            raise ValueError(
                "strategy '%s': rwkv_c has no %s backend; it runs on the CPU ('cpu fp32') or on a "
                "Vulkan GPU ('vulkan fp32')" % (strategy, base.upper()))
        else:
            raise ValueError("strategy '%s': unknown device '%s'" % (strategy, device))
    if len(devices) > 1:
        raise ValueError("strategy '%s': layers split across devices (%s) are not supported; "
                         "give one device" % (strategy, ", ".join(sorted(devices))))
    return devices.pop()


def _find_model_file(path):
    """The official package appends .pth to a name without it; accept both spellings."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".pth"):
        return path + ".pth"
    return path


class RWKV:
    """The official RWKV class's interface: RWKV(model=PATH, strategy='cpu fp32') and
    forward(tokens, state, full_output=False) -> (logits, state)."""

    def __init__(self, model, strategy="cpu fp32", verbose=True, convert_and_save_and_exit=None,
                 *, threads=0, **params):
        if convert_and_save_and_exit:
            raise ValueError("convert_and_save_and_exit: use `rwkv convert` / `rwkv quantize` "
                             "to write GGUF files instead")
        device = parse_strategy(strategy)
        path = _find_model_file(model)
        self._model = Model(path, threads=threads, device=None if device == "cpu" else device,
                            **params)
        info = self._model.info
        gen = info["generation"]
        self.version = {"4": 4, "5.1": 5.1, "5.2": 5.2, "6": 6, "7": 7}.get(gen, gen)
        self.args = SimpleNamespace(
            MODEL_NAME=path, strategy_string=strategy, n_layer=info["n_layer"],
            n_embd=info["n_embd"], n_head=info["n_head"], head_size=info["head_size"],
            n_att=info["n_embd"], n_ffn=info["n_ffn"], vocab_size=info["n_vocab"])
        self.strategy = strategy
        if verbose:
            print("rwkv_c: %s (RWKV-%s, %d layers, %d embd, %s weights) on %s"
                  % (path, gen, info["n_layer"], info["n_embd"], info["weight_dtype"],
                     info["device"] or device))

    @property
    def native(self):
        """The rwkv_c.Model underneath."""
        return self._model

    def forward(self, tokens, state, full_output=False):
        """Feeds tokens (a list of ids) into state (None: a fresh one; else the State returned
        by an earlier call, updated in place). Returns (logits, state): logits after the last
        token, or after every token as an [n][vocab] array with full_output=True."""
        if state is None:
            state = State(self._model)
        elif not isinstance(state, State):
            raise TypeError("forward: state must be None or the state returned by forward "
                            "(rwkv_c keeps it in the C library, not as a list of tensors)")
        out = self._model.eval(tokens, state, all_logits=bool(full_output))
        return out, state

    __call__ = forward
