"""Finding and binding librwkv.so with ctypes (include/rwkv.h is the reference for every type).

The library is looked for, in this order: the file named by the RWKV_LIB environment variable;
librwkv.so next to this package; the build tree this package was installed from (recorded at
install time) or sits in (python/rwkv_c -> build/); the dynamic loader's own search (an
installed librwkv.so.0: `make install`, LD_LIBRARY_PATH, ld.so.cache); and lib/ under
sys.prefix, /usr/local and /usr.

Every call goes through a ctypes.CDLL, which releases the GIL for the duration of each foreign
call: evaluation in one Python thread does not block the others.
"""
import ctypes
import os
import sys
from ctypes import (POINTER, Structure, c_char, c_char_p, c_float, c_int, c_int32, c_size_t,
                    c_uint, c_uint64, c_void_p)

# Arrays of floats and token ids are passed as addresses (c_void_p): the caller's numpy array,
# array('f') or ctypes array, without a copy.

SONAME = "librwkv.so.0"

try:  # written by the package's build backend when installed from a source tree
    from ._install import BUILD_DIR as _INSTALLED_FROM
except ImportError:  # running from the source tree
    _INSTALLED_FROM = None


def _candidates():
    env = os.environ.get("RWKV_LIB")
    if env:
        yield env, "RWKV_LIB"
        return  # an explicit choice: nothing else is tried
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "librwkv.so"), "the package folder"
    for build in (_INSTALLED_FROM, os.path.join(here, "..", "..", "build")):
        if build:
            yield os.path.normpath(os.path.join(build, "librwkv.so")), "the build tree"
    yield SONAME, "the dynamic loader's search path"
    for prefix in (sys.prefix, "/usr/local", "/usr"):
        yield os.path.join(prefix, "lib", SONAME), "prefix " + prefix


def _load():
    tried = []
    for path, where in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (%s): not found" % (path, where))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, where, e))
    raise ImportError("rwkv_c: cannot load librwkv.so; build it with `make` or set RWKV_LIB to "
                      "its path. Tried:\n  " + "\n  ".join(tried))


lib, path = _load()


class ModelParams(Structure):
    _fields_ = [("n_threads", c_int), ("force_scalar", c_int), ("seq_chunk", c_int),
                ("prefault", c_int), ("prefill_bf16", c_int), ("quant_dot", c_int),
                ("amx", c_int), ("device", c_char_p)]


class ModelInfo(Structure):
    _fields_ = [("generation", c_char_p), ("n_layer", c_int), ("n_embd", c_int),
                ("head_size", c_int), ("n_head", c_int), ("n_vocab", c_int), ("n_ffn", c_int),
                ("params", c_uint64), ("weight_dtype", c_char_p), ("format", c_char_p),
                ("state_bytes", c_size_t), ("fingerprint", c_uint64), ("file_bytes", c_uint64),
                ("decode_bytes", c_uint64), ("quant_products", c_char_p),
                ("prefill_products", c_char_p), ("seq_chunk", c_int), ("backend", c_char_p),
                ("device", c_char_p)]


class SamplerParams(Structure):
    _fields_ = [("temperature", c_float), ("top_p", c_float), ("top_k", c_int),
                ("presence_penalty", c_float), ("frequency_penalty", c_float),
                ("penalty_decay", c_float), ("seed", c_uint64)]


class StateExtra(Structure):
    _fields_ = [("logits", POINTER(c_float)), ("text", c_char_p), ("text_len", c_size_t)]


class StreamParams(Structure):
    _fields_ = [("stop", POINTER(c_char_p)), ("stop_len", POINTER(c_size_t)),
                ("n_stop", c_size_t), ("think", c_int)]


class StateLoaded(Structure):
    _fields_ = [("logits", POINTER(c_float)), ("n_logits", c_size_t), ("text", POINTER(c_char)),
                ("text_len", c_size_t), ("n_tokens", c_uint64), ("from_tuning", c_int)]


# Structures the library fills get this many spare bytes behind them, so that fields a newer
# header appends cannot write past the buffer (tests/python/test_abi.py checks the layouts).
SPARE = 256


def filled(cls, fill):
    """An instance of cls filled by fill(pointer) in a buffer with spare room behind it."""
    buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + SPARE)
    fill(ctypes.cast(buf, POINTER(cls)))
    obj = cls.from_buffer(buf)
    obj._buf = buf  # keeps the memory alive
    return obj


P = POINTER
status = c_int
_protos = {
    "rwkv_status_name": (c_char_p, [status]),
    "rwkv_last_error": (c_char_p, []),
    "rwkv_model_params_default": (None, [P(ModelParams)]),
    "rwkv_model_load": (status, [c_char_p, P(ModelParams), P(c_void_p)]),
    "rwkv_model_free": (None, [c_void_p]),
    "rwkv_model_get_info": (None, [c_void_p, P(ModelInfo)]),
    "rwkv_model_set_threads": (status, [c_void_p, c_int]),
    "rwkv_state_new": (status, [c_void_p, P(c_void_p)]),
    "rwkv_state_free": (None, [c_void_p]),
    "rwkv_state_reset": (None, [c_void_p]),
    "rwkv_state_copy": (status, [c_void_p, c_void_p]),
    "rwkv_state_clone": (status, [c_void_p, P(c_void_p)]),
    "rwkv_state_load_tuning": (status, [c_void_p, c_char_p]),
    "rwkv_state_n_tokens": (c_uint64, [c_void_p]),
    "rwkv_state_n_floats": (c_size_t, [c_void_p]),
    "rwkv_state_get": (status, [c_void_p, c_void_p, c_size_t]),
    "rwkv_state_set": (status, [c_void_p, c_void_p, c_size_t]),
    "rwkv_eval": (status, [c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_uint]),
    "rwkv_eval_batch": (status, [c_void_p, P(c_void_p), c_void_p, c_size_t, c_void_p]),
    "rwkv_tokenizer_load": (status, [c_char_p, P(c_void_p)]),
    "rwkv_tokenizer_new_bytes": (status, [P(c_void_p)]),
    "rwkv_tokenizer_from_model_file": (status, [c_char_p, P(c_void_p)]),
    "rwkv_tokenizer_free": (None, [c_void_p]),
    "rwkv_tokenizer_n_vocab": (c_int, [c_void_p]),
    "rwkv_tokenizer_encode": (status, [c_void_p, c_char_p, c_size_t, c_void_p, P(c_size_t)]),
    "rwkv_tokenizer_token": (c_void_p, [c_void_p, c_int32, P(c_size_t)]),
    "rwkv_tokenizer_decode": (status, [c_void_p, c_void_p, c_size_t, c_void_p, c_size_t,
                                       P(c_size_t)]),
    "rwkv_utf8_complete_prefix": (c_size_t, [c_char_p, c_size_t]),
    "rwkv_stream_new": (status, [P(StreamParams), P(c_void_p)]),
    "rwkv_stream_free": (None, [c_void_p]),
    "rwkv_stream_reset": (None, [c_void_p]),
    "rwkv_stream_feed": (status, [c_void_p, c_void_p, c_size_t]),
    "rwkv_stream_finish": (status, [c_void_p]),
    "rwkv_stream_take": (c_void_p, [c_void_p, c_int, P(c_size_t)]),
    "rwkv_stream_stop_index": (c_int, [c_void_p]),
    "rwkv_sampler_params_default": (None, [P(SamplerParams)]),
    "rwkv_sampler_new": (status, [P(SamplerParams), c_int, c_void_p, P(c_void_p)]),
    "rwkv_sampler_free": (None, [c_void_p]),
    "rwkv_sampler_set_params": (status, [c_void_p, P(SamplerParams)]),
    "rwkv_sampler_reset": (None, [c_void_p]),
    "rwkv_sampler_sample": (c_int32, [c_void_p, c_void_p]),
    "rwkv_state_loaded_free": (None, [P(StateLoaded)]),
    "rwkv_state_serialized_size": (c_size_t, [c_void_p, P(StateExtra)]),
    "rwkv_state_serialize": (status, [c_void_p, P(StateExtra), c_void_p, c_size_t, P(c_size_t)]),
    "rwkv_state_deserialize": (status, [c_void_p, c_char_p, c_size_t, P(StateLoaded)]),
    "rwkv_state_save": (status, [c_void_p, P(StateExtra), c_char_p]),
    "rwkv_state_load": (status, [c_void_p, c_char_p, P(StateLoaded)]),
    "rwkv_model_init_random": (status, [c_char_p, c_char_p, c_uint64, c_int, c_char_p]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

THINK = {"none": 0, "auto": 1, "open": 2, "closed": 3}
STREAM_CONTENT, STREAM_REASONING = 0, 1
EVAL_SERIAL = 1
EVAL_ALL_LOGITS = 2
QUANT_DOT = {"auto": 0, "exact": 1, "int8": 2}
