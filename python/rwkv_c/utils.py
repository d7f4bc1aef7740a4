"""`from rwkv_c.utils import PIPELINE, PIPELINE_ARGS`: the official package's pipeline.

Sampling runs in the C library's sampler (the official rules: softmax, top-p, top-k,
temperature as p ** (1/T), presence/frequency penalties with decay, weight 0 for blank and digit
tokens; src/text/sampler.c). The random draws come from the sampler's seeded generator instead
of numpy's: PIPELINE_ARGS(seed=N) makes generate repeatable and gives the same text as
`rwkv generate --seed N` with the same parameters; without a seed one is drawn from numpy's
global generator (so np.random.seed still makes a script repeatable).
"""
import os

from .core import Model, Sampler, Tokenizer, _random_seed
from .model import RWKV

__all__ = ["PIPELINE", "PIPELINE_ARGS"]

WORLD = "rwkv_vocab_v20230424"


class PIPELINE_ARGS:
    def __init__(self, temperature=1.0, top_p=0.85, top_k=0, alpha_frequency=0.2,
                 alpha_presence=0.2, alpha_decay=0.996, token_ban=[], token_stop=[],
                 chunk_len=256, seed=None):
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.alpha_frequency = alpha_frequency  # Frequency Penalty (as in GPT-3)
        self.alpha_presence = alpha_presence    # Presence Penalty (as in GPT-3)
        self.alpha_decay = alpha_decay          # gradually decay the penalty
        self.token_ban = token_ban              # ban the generation of some tokens
        self.token_stop = token_stop            # stop generation whenever you see any token here
        self.chunk_len = chunk_len              # split input into chunks to save VRAM
        self.seed = seed                        # rwkv_c: the sampler's seed (None: drawn)


def _native(model):
    if isinstance(model, RWKV):
        return model.native
    if isinstance(model, Model):
        return model
    return None


class PIPELINE:
    """PIPELINE(model, WORD_NAME): WORD_NAME "rwkv_vocab_v20230424" finds the model's World
    vocabulary as the rwkv command does (embedded in a GGUF file, byte-level for 256-token
    models, the RWKV_VOCAB file, rwkv_vocab_v20230424.txt next to the model); a path names a
    vocabulary file. model is an rwkv_c RWKV (or any object with the official forward)."""

    def __init__(self, model, WORD_NAME, seed=None):
        self.model = model
        native = _native(model)
        if WORD_NAME == WORLD:
            if native is None:
                raise ValueError("PIPELINE: a model of another package: give the path of the "
                                 "vocabulary file as WORD_NAME")
            self.tokenizer = native.tokenizer()
        elif os.path.exists(os.fspath(WORD_NAME)):
            self.tokenizer = native.tokenizer(WORD_NAME) if native else Tokenizer(WORD_NAME)
        elif WORD_NAME in ("cl100k_base", "20B_tokenizer.json") or str(WORD_NAME).endswith(".json"):
            raise ValueError("PIPELINE: the tokenizer '%s' is not supported (RWKV World models "
                             "use rwkv_vocab_v20230424)" % WORD_NAME)
        else:
            raise ValueError("PIPELINE: no vocabulary '%s' (give rwkv_vocab_v20230424 or the "
                             "path of a vocabulary file)" % WORD_NAME)
        self._sampler = Sampler(self.tokenizer.n_vocab, seed=seed)

    def refine_context(self, context):
        context = context.strip().split("\n")
        for c in range(len(context)):
            context[c] = context[c].strip().strip("\u3000").strip("\r")
        context = list(filter(lambda c: c != "", context))
        context = "\n" + ("\n".join(context)).strip()
        if context == "":
            context = "\n"
        return context

    def encode(self, x):
        return self.tokenizer.encode(x)

    def decode(self, x):
        # as the official tokenizer: a single U+FFFD when the bytes are not valid UTF-8
        try:
            return self.tokenizer.decode_bytes(x).decode("utf-8")
        except UnicodeDecodeError:
            return "\ufffd"

    def sample_logits(self, logits, temperature=1.0, top_p=0.85, top_k=0):
        """A token drawn from logits (not modified) with the official rules. temperature 0
        picks the most probable token."""
        self._sampler.set_params(temperature=temperature, top_p=top_p, top_k=top_k,
                                 presence_penalty=0.0, frequency_penalty=0.0)
        return self._sampler.sample(logits)

    def generate(self, ctx, token_count=100, args=PIPELINE_ARGS(), callback=None, state=None):
        """The official generation loop: ctx fed in chunks of args.chunk_len, then up to
        token_count tokens sampled with args' penalties; callback(text) gets every piece of
        complete UTF-8 text. Returns the text."""
        sampler = Sampler(self.tokenizer.n_vocab, temperature=args.temperature, top_p=args.top_p,
                          top_k=args.top_k, presence_penalty=args.alpha_presence,
                          frequency_penalty=args.alpha_frequency,
                          penalty_decay=args.alpha_decay,
                          seed=_random_seed() if args.seed is None else args.seed,
                          tokenizer=self.tokenizer)
        all_tokens = []
        out_last = 0
        out_str = ""
        token = None
        for i in range(token_count):
            # forward & adjust prob.
            tokens = self.encode(ctx) if i == 0 else [token]
            while len(tokens) > 0:
                out, state = self.model.forward(tokens[:args.chunk_len], state)
                tokens = tokens[args.chunk_len:]
            for n in args.token_ban:
                out[n] = -float("inf")
            # sampler (penalties, then the draw; the counts decay and grow inside)
            token = sampler.sample(out)
            if token in args.token_stop:
                break
            all_tokens += [token]
            # output
            tmp = self.decode(all_tokens[out_last:])
            if "\ufffd" not in tmp:  # is valid utf-8 string?
                if callback:
                    callback(tmp)
                out_str += tmp
                out_last = i + 1
        return out_str
