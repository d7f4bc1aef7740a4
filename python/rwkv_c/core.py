"""The native API over librwkv: Model, State, Tokenizer, Sampler and generation.

Thread safety follows include/rwkv.h: a Model may be shared by many threads (evaluations on one
model are serialised inside the library; they release the GIL while they run); a State, a
Sampler or a generation belongs to one thread at a time. Tokenizers are read-only after loading
and may be shared.
"""
import ctypes
import os
import random
import threading
from array import array
from ctypes import POINTER, byref, c_float, c_int32, c_size_t, c_void_p

from . import _lib
from ._lib import lib

try:
    import numpy as _np
except ImportError:  # numpy is optional: results are then array('f')
    _np = None

__all__ = ["RwkvError", "Model", "State", "Tokenizer", "Sampler", "Stream", "WORLD_VOCAB",
           "init_random"]

WORLD_VOCAB = "rwkv_vocab_v20230424.txt"


class RwkvError(Exception):
    """A failure of the library: .status (the rwkv_status number), .status_name ("format
    error", ...) and the message of rwkv_last_error()."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = lib.rwkv_status_name(status).decode()
        super().__init__(message)


def _check(st, what=None, path=None):
    """Raises RwkvError for a failed status: the library's message, after what (e.g.
    "cannot load 'x.pth'") unless the message already names path."""
    if st != 0:
        msg = lib.rwkv_last_error().decode("utf-8", "replace")
        if what and not (path is not None and os.fspath(path) in msg):
            msg = "%s: %s" % (what, msg) if msg else what
        raise RwkvError(st, msg or lib.rwkv_status_name(st).decode())


def _path(p):
    return os.fsencode(os.fspath(p))


def _random_seed():
    """A seed from numpy's global generator when numpy is present (np.random.seed makes runs
    repeatable, as with the official package), else from the random module."""
    if _np is not None:
        return int(_np.random.randint(0, 2**63 - 1, dtype=_np.int64))
    return random.getrandbits(63)


def _floats(n):
    """A new float32 buffer of n elements (numpy array or array('f')) and its address."""
    if _np is not None:
        a = _np.empty(n, dtype=_np.float32)
        return a, a.ctypes.data
    a = array("f", bytes(4 * n))
    return a, a.buffer_info()[0]


def _float_view(x, n):
    """The address of x's n float32 values when x is a contiguous writable float32 buffer
    (numpy array, array('f'), ctypes array), else None."""
    if _np is not None and isinstance(x, _np.ndarray):
        if x.dtype == _np.float32 and x.flags.c_contiguous and x.flags.writeable and x.size == n:
            return x.ctypes.data
        return None
    if isinstance(x, array) and x.typecode == "f" and len(x) == n:
        return x.buffer_info()[0]
    if isinstance(x, ctypes.Array) and x._type_ is c_float and len(x) == n:
        return ctypes.addressof(x)
    return None


def _tokens(tokens):
    """(keep-alive object, address, count) of int32 token ids from a list/tuple/array/numpy."""
    if isinstance(tokens, int):
        tokens = (tokens,)
    if _np is not None and isinstance(tokens, _np.ndarray):
        t = _np.ascontiguousarray(tokens, dtype=_np.int32)
        if t.ndim != 1:
            raise ValueError("tokens: a 1-D sequence of token ids")
        return t, t.ctypes.data, t.size
    t = (c_int32 * len(tokens))(*tokens)
    return t, ctypes.addressof(t), len(tokens)


class Model:
    """A loaded model (.pth, GGUF or rwkv.cpp .bin; format detected from the content).

    threads: worker threads (0 = physical cores); device: None/"cpu", "vulkan", "vulkan:N";
    the other keywords are rwkv_model_params fields (see include/rwkv.h)."""

    def __init__(self, path, threads=0, device=None, *, seq_chunk=0, prefault=False,
                 force_scalar=False, prefill_bf16=False, quant_dot="auto", amx=True):
        self._m = None
        self._live = 0         # States alive: the C model is freed only after the last one
        self._closing = False
        self._lock = threading.RLock()
        self.path = os.fspath(path)
        p = _lib.filled(_lib.ModelParams, lib.rwkv_model_params_default)
        p.n_threads = int(threads)
        p.seq_chunk = int(seq_chunk)
        p.prefault = int(bool(prefault))
        p.force_scalar = int(bool(force_scalar))
        p.prefill_bf16 = int(bool(prefill_bf16))
        if quant_dot not in _lib.QUANT_DOT:
            raise ValueError("quant_dot: one of %s" % ", ".join(_lib.QUANT_DOT))
        p.quant_dot = _lib.QUANT_DOT[quant_dot]
        p.amx = 0 if amx else 1
        device_b = device.encode() if device else None
        p.device = device_b
        m = c_void_p()
        _check(lib.rwkv_model_load(_path(path), p, byref(m)), "cannot load '%s'" % self.path, path)
        self._m = m
        i = _lib.filled(_lib.ModelInfo, lambda ptr: lib.rwkv_model_get_info(m, ptr))
        s = lambda b: b.decode() if b is not None else None
        self.info = {
            "generation": s(i.generation), "n_layer": i.n_layer, "n_embd": i.n_embd,
            "head_size": i.head_size, "n_head": i.n_head, "n_vocab": i.n_vocab,
            "n_ffn": i.n_ffn, "params": i.params, "weight_dtype": s(i.weight_dtype),
            "format": s(i.format), "state_bytes": i.state_bytes,
            "fingerprint": "%016x" % i.fingerprint, "file_bytes": i.file_bytes,
            "decode_bytes": i.decode_bytes, "quant_products": s(i.quant_products),
            "prefill_products": s(i.prefill_products), "seq_chunk": i.seq_chunk,
            "backend": s(i.backend), "device": s(i.device),
        }
        self.n_vocab = i.n_vocab

    def close(self):
        """Releases the model: at once, or when its last State is freed (the C library needs
        the model until then). It cannot evaluate afterwards."""
        with self._lock:
            self._closing = True
            if self._m and self._live == 0:
                lib.rwkv_model_free(self._m)
                self._m = None

    def __del__(self):
        if getattr(self, "_lock", None) is not None:
            self.close()

    def _state_born(self):
        with self._lock:
            self._handle()
            self._live += 1

    def _state_freed(self):
        with self._lock:
            self._live -= 1
            if self._closing and self._live == 0 and self._m:
                lib.rwkv_model_free(self._m)
                self._m = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._m or self._closing:
            raise ValueError("the model was closed")
        return self._m

    def set_threads(self, n):
        _check(lib.rwkv_model_set_threads(self._handle(), int(n)))

    def state(self):
        """A fresh (zero) State for this model."""
        return State(self)

    def eval(self, tokens, state, *, all_logits=False, serial=False, logits=True):
        """Feeds tokens into state; returns the logits after the last token (n_vocab floats),
        after every token with all_logits=True (a [n][n_vocab] numpy array, or a flat
        array('f') without numpy), or None with logits=False. serial=True feeds one token at a
        time (RNN mode) instead of sequence mode."""
        keep, ptr, n = _tokens(tokens)
        if n == 0:
            raise ValueError("eval: no tokens")
        if state.model is not self:
            raise ValueError("eval: the state belongs to another model")
        flags = (_lib.EVAL_SERIAL if serial else 0) | (_lib.EVAL_ALL_LOGITS if all_logits else 0)
        out, out_ptr = _floats(self.n_vocab * (n if all_logits else 1)) if logits else (None, None)
        _check(lib.rwkv_eval(self._handle(), state._handle(), ptr, n, out_ptr, flags))
        if all_logits and _np is not None:
            out = out.reshape(n, self.n_vocab)
        return out

    def eval_batch(self, tokens, states):
        """One decoding step for many sequences: tokens[i] is fed into states[i]. Returns the
        logits as [n][n_vocab] (numpy) or a flat array('f')."""
        n = len(states)
        if len(tokens) != n or n == 0:
            raise ValueError("eval_batch: one token per state, at least one")
        if any(s.model is not self for s in states):
            raise ValueError("eval_batch: a state belongs to another model")
        keep, ptr, _ = _tokens(tokens)
        handles = (c_void_p * n)(*[s._handle() for s in states])
        out, out_ptr = _floats(self.n_vocab * n)
        _check(lib.rwkv_eval_batch(self._handle(), handles, ptr, n, out_ptr))
        return out.reshape(n, self.n_vocab) if _np is not None else out

    def tokenizer(self, vocab=None):
        """The tokenizer for this model, found as the rwkv command finds it: the file vocab if
        given; the vocabulary embedded in a GGUF model; bytes for 256-token models; the file
        named by RWKV_VOCAB; rwkv_vocab_v20230424.txt next to the model."""
        if vocab is not None:
            return self._fit(Tokenizer(vocab), "vocabulary '%s'" % os.fspath(vocab))
        try:
            t = Tokenizer.from_model_file(self.path)
            if t.n_vocab == self.n_vocab:
                return t
        except RwkvError:
            pass
        if self.n_vocab == 256:
            return Tokenizer.bytes()
        env = os.environ.get("RWKV_VOCAB")
        if env:
            return self._fit(Tokenizer(env), "vocabulary '%s' (from RWKV_VOCAB)" % env)
        beside = os.path.join(os.path.dirname(os.path.abspath(self.path)), WORLD_VOCAB)
        if os.path.exists(beside):
            return self._fit(Tokenizer(beside), "vocabulary '%s'" % beside)
        raise RwkvError(1, "the model has %d tokens and needs a vocabulary: pass vocab=FILE, set "
                           "RWKV_VOCAB, or put %s next to the model" % (self.n_vocab, WORLD_VOCAB))

    def _fit(self, tok, what):
        if tok.n_vocab != self.n_vocab:
            raise RwkvError(5, "%s has %d tokens but the model %d" % (what, tok.n_vocab,
                                                                      self.n_vocab))
        return tok

    def generate(self, prompt, max_tokens=100, *, state=None, tokenizer=None, stop=(),
                 temperature=1.0, top_p=1.0, top_k=0, presence_penalty=0.0,
                 frequency_penalty=0.0, penalty_decay=0.996, seed=None, ban=(),
                 stop_tokens=(0,), think="none"):
        """Yields the text generated after prompt (str or list of token ids), piece by piece:
        a piece never ends inside a UTF-8 character, and text that could be the start of a stop
        string is held back until it is known not to be one. Generation ends after max_tokens
        tokens, at a token of stop_tokens (0, end of text, by default), or before the first stop
        string (which is not yielded). The sampling parameters are those of rwkv generate (and
        Sampler); seed=None draws one (see Sampler). state (optional) is continued and left
        after the last token fed; the .stopped attribute of the returned Stream says why it
        ended ("length", "end", "stop"). think ("none", "auto", "open", "closed": rwkv.h's
        rwkv_think_mode) splits a G1 reply's reasoning (Stream.reasoning) from its content."""
        tok = tokenizer or self.tokenizer()
        return Stream(self, tok, prompt, max_tokens, state, stop,
                      Sampler(self.n_vocab, temperature=temperature, top_p=top_p, top_k=top_k,
                              presence_penalty=presence_penalty,
                              frequency_penalty=frequency_penalty, penalty_decay=penalty_decay,
                              seed=seed, tokenizer=tok),
                      ban, stop_tokens, think)


class State:
    """The recurrent state of one sequence (fixed size). copy.copy/deepcopy and .copy() clone
    it; bytes(state) serializes it (docs/STATE_FORMAT.md)."""

    def __init__(self, model, _handle=None):
        self._s = None
        self.model = model
        model._state_born()  # raises when the model was closed
        if _handle is None:
            _handle = c_void_p()
            st = lib.rwkv_state_new(model._m, byref(_handle))
            if st != 0:
                model._state_freed()
                _check(st)
        self._s = _handle

    def free(self):
        """Releases the state now (also done when it is garbage-collected)."""
        if self._s:
            lib.rwkv_state_free(self._s)
            self._s = None
            self.model._state_freed()

    def __del__(self):
        if getattr(self, "_s", None):
            self.free()

    def _handle(self):
        if not self._s:
            raise ValueError("the state was freed")
        return self._s

    def copy(self):
        h = c_void_p()
        _check(lib.rwkv_state_clone(self._handle(), byref(h)))
        try:
            return State(self.model, h)
        except BaseException:
            lib.rwkv_state_free(h)
            raise

    __copy__ = copy

    def __deepcopy__(self, memo):
        return self.copy()

    def copy_from(self, other):
        _check(lib.rwkv_state_copy(self._handle(), other._handle()))

    def reset(self):
        """Back to the start (the zero state, or the state-tuning state loaded)."""
        lib.rwkv_state_reset(self._handle())

    @property
    def n_tokens(self):
        return lib.rwkv_state_n_tokens(self._handle())

    def __len__(self):
        return lib.rwkv_state_n_floats(self._handle())

    def floats(self):
        """A copy of the state's floats (layout: docs/GENERATIONS.md)."""
        n = len(self)
        out, ptr = _floats(n)
        _check(lib.rwkv_state_get(self._handle(), ptr, n))
        return out

    def set_floats(self, values):
        n = len(self)
        ptr = _float_view(values, n)
        if ptr is None:
            values, ptr = _floats_from(values, n)
        _check(lib.rwkv_state_set(self._handle(), ptr, n))

    @staticmethod
    def _extra(logits, text):
        if logits is None and text is None:
            return None, ()
        e = _lib.StateExtra()
        keep = []
        if logits is not None:
            lv, lp = _floats_from(logits, None)
            e.logits = ctypes.cast(lp, POINTER(c_float))
            keep.append(lv)
        if text is not None:
            tb = text.encode() if isinstance(text, str) else bytes(text)
            e.text = tb
            e.text_len = len(tb)
            keep.append(tb)
        return e, keep

    def to_bytes(self, logits=None, text=None):
        """The serialized state (with the optional logits and text blocks)."""
        e, keep = self._extra(logits, text)
        ep = byref(e) if e is not None else None
        n = lib.rwkv_state_serialized_size(self._handle(), ep)
        buf = ctypes.create_string_buffer(n)
        _check(lib.rwkv_state_serialize(self._handle(), ep, buf, n, None))
        return buf.raw

    def __bytes__(self):
        return self.to_bytes()

    def from_bytes(self, data):
        """Reads serialized bytes into this state; returns the optional blocks as a dict
        (logits, text, n_tokens, from_tuning)."""
        data = bytes(data)
        loaded = _lib.StateLoaded()
        _check(lib.rwkv_state_deserialize(self._handle(), data, len(data), byref(loaded)))
        return _take_loaded(loaded)

    def save(self, path, logits=None, text=None):
        """Writes a state file atomically (rwkv_state_save)."""
        e, keep = self._extra(logits, text)
        _check(lib.rwkv_state_save(self._handle(), byref(e) if e is not None else None,
                                   _path(path)), "cannot save the state to '%s'" % os.fspath(path),
               path)

    def load(self, path):
        """Loads a state file (or an official state-tuning .pth) into this state; returns the
        optional blocks as from_bytes does."""
        loaded = _lib.StateLoaded()
        _check(lib.rwkv_state_load(self._handle(), _path(path), byref(loaded)),
               "cannot load the state '%s'" % os.fspath(path), path)
        return _take_loaded(loaded)

    def load_tuning(self, path):
        """Makes an official state-tuning .pth this state's initial state."""
        _check(lib.rwkv_state_load_tuning(self._handle(), _path(path)),
               "cannot load the state-tuning file '%s'" % os.fspath(path), path)


def _floats_from(values, n):
    """A float32 buffer holding values (any sequence of numbers) and its pointer."""
    values = list(values) if not hasattr(values, "__len__") else values
    if n is not None and len(values) != n:
        raise ValueError("expected %d floats, got %d" % (n, len(values)))
    ptr = _float_view(values, len(values))
    if ptr is not None:
        return values, ptr
    if _np is not None:
        a = _np.ascontiguousarray(values, dtype=_np.float32).ravel()
        return a, a.ctypes.data
    a = array("f", values)
    return a, a.buffer_info()[0]


def _take_loaded(loaded):
    try:
        out = {"n_tokens": loaded.n_tokens, "from_tuning": bool(loaded.from_tuning),
               "logits": None, "text": None}
        if loaded.logits:
            vals, ptr = _floats(loaded.n_logits)
            ctypes.memmove(ptr, loaded.logits, 4 * loaded.n_logits)
            out["logits"] = vals
        if loaded.text:
            out["text"] = ctypes.string_at(loaded.text, loaded.text_len).decode("utf-8", "replace")
        return out
    finally:
        lib.rwkv_state_loaded_free(byref(loaded))


class Tokenizer:
    """A tokenizer: Tokenizer(path) loads a World vocabulary (rwkv_vocab_v20230424.txt format);
    Tokenizer.bytes() is the byte tokenizer of 256-token models; Tokenizer.from_model_file(path)
    the vocabulary embedded in a GGUF model."""

    def __init__(self, path=None, _handle=None):
        self._t = None
        if _handle is None:
            _handle = c_void_p()
            _check(lib.rwkv_tokenizer_load(_path(path), byref(_handle)),
                   "cannot load the vocabulary '%s'" % os.fspath(path), path)
        self._t = _handle
        self.n_vocab = lib.rwkv_tokenizer_n_vocab(self._t)

    @classmethod
    def bytes(cls):
        h = c_void_p()
        _check(lib.rwkv_tokenizer_new_bytes(byref(h)))
        return cls(_handle=h)

    @classmethod
    def from_model_file(cls, path):
        h = c_void_p()
        _check(lib.rwkv_tokenizer_from_model_file(_path(path), byref(h)))
        return cls(_handle=h)

    def __del__(self):
        if self._t:
            lib.rwkv_tokenizer_free(self._t)
            self._t = None

    def encode(self, text):
        """Token ids (list of int) of text (str, encoded as UTF-8, or bytes)."""
        b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        out = (c_int32 * max(len(b), 1))()
        n = c_size_t()
        _check(lib.rwkv_tokenizer_encode(self._t, b, len(b), ctypes.addressof(out), byref(n)))
        return out[:n.value]

    def decode_bytes(self, ids):
        keep, ptr, n = _tokens(ids)
        need = c_size_t()
        st = lib.rwkv_tokenizer_decode(self._t, ptr, n, None, 0, byref(need))
        if st not in (0, 1):  # 1: the buffer (none) was too small; need holds the size
            _check(st)
        buf = ctypes.create_string_buffer(max(need.value, 1))
        _check(lib.rwkv_tokenizer_decode(self._t, ptr, n, buf, need.value, byref(need)))
        return buf.raw[:need.value]

    def decode(self, ids, errors="replace"):
        """The text of ids; bytes that are not valid UTF-8 are handled per errors."""
        return self.decode_bytes(ids).decode("utf-8", errors)

    def token_bytes(self, id):
        n = c_size_t()
        p = lib.rwkv_tokenizer_token(self._t, int(id), byref(n))
        return ctypes.string_at(p, n.value) if p else b""


class Sampler:
    """Picks tokens from logits with the official pip package's rules (top-p, top-k,
    temperature, presence/frequency penalties with decay; src/text/sampler.c documents every
    detail). seed=None draws a seed from numpy's global generator (or the random module).
    tokenizer (optional) gives blank/digit tokens weight 0 in the penalty counts, as the
    official PIPELINE does."""

    def __init__(self, n_vocab, *, temperature=1.0, top_p=1.0, top_k=0, presence_penalty=0.0,
                 frequency_penalty=0.0, penalty_decay=0.996, seed=None, tokenizer=None):
        self._s = None
        self.n_vocab = int(n_vocab)
        self._tok = tokenizer  # kept alive: the sampler reads it
        p = self._params(temperature, top_p, top_k, presence_penalty, frequency_penalty,
                         penalty_decay, _random_seed() if seed is None else seed)
        h = c_void_p()
        _check(lib.rwkv_sampler_new(byref(p), self.n_vocab, tokenizer._t if tokenizer else None,
                                    byref(h)), "invalid sampling parameters")
        self._s = h
        self._buf = None

    @staticmethod
    def _params(temperature, top_p, top_k, presence, frequency, decay, seed):
        p = _lib.SamplerParams()
        lib.rwkv_sampler_params_default(byref(p))
        p.temperature, p.top_p, p.top_k = temperature, top_p, int(top_k)
        p.presence_penalty, p.frequency_penalty, p.penalty_decay = presence, frequency, decay
        p.seed = int(seed) & (2**64 - 1)
        return p

    def set_params(self, *, temperature=1.0, top_p=1.0, top_k=0, presence_penalty=0.0,
                   frequency_penalty=0.0, penalty_decay=0.996):
        """New parameters; the penalty counts and the random stream are kept."""
        p = self._params(temperature, top_p, top_k, presence_penalty, frequency_penalty,
                         penalty_decay, 0)
        _check(lib.rwkv_sampler_set_params(self._s, byref(p)), "invalid sampling parameters")

    def reset(self):
        """Clears the penalty counts."""
        lib.rwkv_sampler_reset(self._s)

    def __del__(self):
        if self._s:
            lib.rwkv_sampler_free(self._s)
            self._s = None

    def sample(self, logits, inplace=False):
        """The next token id from logits (n_vocab floats). The penalties are applied to a copy,
        or to logits itself with inplace=True when it is a float32 numpy array or array('f')."""
        ptr = _float_view(logits, self.n_vocab) if inplace else None
        if ptr is None:
            if self._buf is None:
                self._buf = (c_float * self.n_vocab)()
            if _np is not None and not isinstance(logits, (list, tuple, array)):
                # numpy arrays, and whatever numpy reads (a CPU torch tensor, ...)
                src = _np.ascontiguousarray(logits, dtype=_np.float32).ravel()
                if src.size != self.n_vocab:
                    raise ValueError("sample: %d logits for %d tokens" % (src.size, self.n_vocab))
                ctypes.memmove(self._buf, src.ctypes.data, 4 * self.n_vocab)
            else:
                if len(logits) != self.n_vocab:
                    raise ValueError("sample: %d logits for %d tokens" % (len(logits),
                                                                          self.n_vocab))
                self._buf[:] = logits
            ptr = ctypes.addressof(self._buf)
        return lib.rwkv_sampler_sample(self._s, ptr)


class Stream:
    """The iterator Model.generate returns: yields the reply's text pieces (the C library's
    rwkv_stream: a piece never ends inside a UTF-8 character, and text that could be the start
    of a stop string is held back until it is known not to be one). .tokens lists the tokens
    generated, .reasoning the text of the reasoning channel (think modes), .stopped says why it
    ended ("length", "end", "stop") once it has, .stop_index which stop string matched."""

    def __init__(self, model, tok, prompt, max_tokens, state, stop, sampler, ban, stop_tokens,
                 think="none"):
        self.model, self.tok, self.sampler = model, tok, sampler
        self._feed_last = state is not None
        self.state = state if state is not None else model.state()
        self.max_tokens = int(max_tokens)
        if think not in _lib.THINK:
            raise ValueError("generate: think is one of %s" % ", ".join(_lib.THINK))
        stops = [x.encode() if isinstance(x, str) else bytes(x) for x in stop]
        p = _lib.StreamParams()
        p.n_stop = len(stops)
        if stops:
            p.stop = (ctypes.c_char_p * len(stops))(*stops)
            p.stop_len = (c_size_t * len(stops))(*[len(x) for x in stops])
        p.think = _lib.THINK[think]
        self._s = None
        h = c_void_p()
        _check(lib.rwkv_stream_new(byref(p), byref(h)), "generate")
        self._s = h
        self.ban = list(ban)
        self.stop_tokens = set(stop_tokens)
        ids = tok.encode(prompt) if isinstance(prompt, (str, bytes)) else list(prompt)
        if not ids:
            raise ValueError("generate: the prompt encodes to no tokens")
        self._prompt = ids
        self.tokens = []
        self.reasoning = ""
        self.stopped = None
        self.stop_index = -1
        self._gen = self._run()

    def __del__(self):
        if getattr(self, "_s", None):
            lib.rwkv_stream_free(self._s)
            self._s = None

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._gen)

    def _take(self):
        """The content released so far (reasoning is collected in .reasoning)."""
        n = c_size_t()
        p = lib.rwkv_stream_take(self._s, _lib.STREAM_REASONING, byref(n))
        if n.value:
            self.reasoning += ctypes.string_at(p, n.value).decode("utf-8", "replace")
        p = lib.rwkv_stream_take(self._s, _lib.STREAM_CONTENT, byref(n))
        return ctypes.string_at(p, n.value).decode("utf-8", "replace") if n.value else ""

    def _run(self):
        m = self.model
        logits = m.eval(self._prompt, self.state)
        while len(self.tokens) < self.max_tokens:
            for t in self.ban:
                logits[t] = float("-inf")
            t = self.sampler.sample(logits, inplace=True)
            if t in self.stop_tokens:
                self.stopped = "end"
                break
            self.tokens.append(t)
            b = self.tok.token_bytes(t)
            _check(lib.rwkv_stream_feed(self._s, b, len(b)))
            piece = self._take()
            if piece:
                yield piece
            self.stop_index = lib.rwkv_stream_stop_index(self._s)
            if self.stop_index >= 0:
                self.stopped = "stop"
                return
            if len(self.tokens) == self.max_tokens and not self._feed_last:
                break  # the last token need not be fed (unless the caller keeps the state)
            logits = m.eval([t], self.state)
        if self.stopped is None:
            self.stopped = "length"
        _check(lib.rwkv_stream_finish(self._s))
        piece = self._take()
        if piece:
            yield piece


def init_random(path, shape="0.1b", dtype="fp16", seed=0, vocab=0):
    """Writes a random-weight RWKV-7 model (rwkv_model_init_random; `rwkv init`)."""
    _check(lib.rwkv_model_init_random(shape.encode(), dtype.encode(), int(seed), int(vocab),
                                      _path(path)), "cannot write '%s'" % os.fspath(path), path)
