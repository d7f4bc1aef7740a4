"""PIPELINE and native generation: the same text as `rwkv generate` for a seed, the official
loop's rules (token_ban, token_stop, callback pieces), sample_logits."""
import numpy as np
import pytest
from conftest import run

from rwkv_c import Model, Sampler
from rwkv_c.model import RWKV
from rwkv_c.utils import PIPELINE, PIPELINE_ARGS

PROMPT = "The quick brown fox"
SAMPLING = dict(temperature=1.0, top_p=0.9, top_k=50, alpha_presence=0.2, alpha_frequency=0.1,
                alpha_decay=0.99)


def cli_generate(rwkv_bin, model, n, seed, extra=()):
    """The bytes `rwkv generate` writes (a random model's text need not be valid UTF-8)."""
    r = run([rwkv_bin, "generate", "-m", model, "-p", PROMPT, "-n", str(n), "--seed", str(seed),
             "--temperature", "1.0", "--top-p", "0.9", "--top-k", "50",
             "--presence-penalty", "0.2", "--frequency-penalty", "0.1", "--penalty-decay",
             "0.99", "-q", *extra], text=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def valid_utf8_seeds(rwkv_bin, model, n, count):
    """The first seeds whose text is valid UTF-8 (the official loop emits nothing after an
    invalid sequence, so only those compare as whole texts)."""
    seeds = []
    for seed in range(1, 200):
        try:
            cli_generate(rwkv_bin, model, n, seed).decode("utf-8")
            seeds.append(seed)
        except UnicodeDecodeError:
            continue
        if len(seeds) == count:
            return seeds
    pytest.fail("no seed gives valid UTF-8")


def test_pipeline_equals_cli(rwkv_bin, world_model):
    model = RWKV(model=world_model, strategy="cpu fp32", verbose=False)
    pipeline = PIPELINE(model, "rwkv_vocab_v20230424")
    for seed in valid_utf8_seeds(rwkv_bin, world_model, 40, 3):
        pieces = []
        args = PIPELINE_ARGS(token_stop=[0], seed=seed, **SAMPLING)  # the CLI stops at token 0
        text = pipeline.generate(PROMPT, token_count=40, args=args, callback=pieces.append)
        assert text.encode() == cli_generate(rwkv_bin, world_model, 40, seed), seed
        assert "".join(pieces) == text and len(text) > 0


def test_native_generate_equals_cli_with_stop(rwkv_bin, world_model):
    m = Model(world_model)
    full = cli_generate(rwkv_bin, world_model, 60, 7).decode("utf-8", "replace")
    stop = full[20:23]  # a stop string that occurs in the text
    want = cli_generate(rwkv_bin, world_model, 60, 7, ["--stop", stop]).decode("utf-8", "replace")
    assert want == full[:full.index(stop)]
    stream = m.generate(PROMPT, 60, temperature=1.0, top_p=0.9, top_k=50, presence_penalty=0.2,
                        frequency_penalty=0.1, penalty_decay=0.99, seed=7, stop=[stop])
    pieces = list(stream)
    assert "".join(pieces) == want and stream.stopped == "stop"
    stream = m.generate(PROMPT, 60, temperature=1.0, top_p=0.9, top_k=50, presence_penalty=0.2,
                        frequency_penalty=0.1, penalty_decay=0.99, seed=7)
    assert "".join(stream) == full and stream.stopped in ("length", "end")


def test_python_m_generate_equals_cli(rwkv_bin, world_model):
    import os
    import sys
    py = os.path.join(os.path.dirname(__file__), "..", "..", "python")
    r = run([sys.executable, "-m", "rwkv_c", "generate", "-m", world_model, "-p", PROMPT, "-n",
             "30", "--seed", "3", "--top-p", "0.9", "--top-k", "50", "--presence-penalty", "0.2",
             "--frequency-penalty", "0.1", "--penalty-decay", "0.99", "-q"],
            cwd=py)
    assert r.returncode == 0, r.stderr
    assert r.stdout == cli_generate(rwkv_bin, world_model, 30, 3).decode("utf-8", "replace")


class Scripted:
    """A sampler that returns a fixed sequence of tokens."""

    def __init__(self, tokens):
        self.tokens = list(tokens)

    def sample(self, logits, inplace=False):
        return self.tokens.pop(0)


def scripted_stream(model, data, stop=(), stop_tokens=()):
    from rwkv_c import Stream
    return Stream(model, model.tokenizer(), "The", len(data), None, stop, Scripted(data), (),
                  stop_tokens)


def test_utf8_hold_back(tiny7):
    """Byte-level model, characters split across tokens: no piece ends inside a character."""
    data = "a\u00e9\u4f60\U0001f600b".encode()  # 1, 2, 3 and 4-byte characters
    s = scripted_stream(tiny7, data)
    pieces = list(s)
    assert pieces == ["a", "\u00e9", "\u4f60", "\U0001f600", "b"] and s.stopped == "length"
    # bytes that can never be UTF-8 are not held back
    s = scripted_stream(tiny7, b"x\xff\xc3")
    assert list(s) == ["x", "\ufffd", "\ufffd"]


def test_stop_string_held_back(tiny7):
    """Text that may begin a stop string waits; a completed stop string ends the stream."""
    s = scripted_stream(tiny7, b"ab<|e<|end|>zz", stop=["<|end|>"])
    assert list(s) == ["a", "b", "<|e"] and s.stopped == "stop"
    s = scripted_stream(tiny7, b"ab<|ex", stop=["<|end|>"])
    assert list(s) == ["a", "b", "<|ex"] and s.stopped == "length"
    s = scripted_stream(tiny7, b"abc", stop_tokens={ord("c")})
    assert list(s) == ["a", "b"] and s.stopped == "end"


def test_think_channels(tiny7):
    """think="auto": a G1 reply's <think>...</think> goes to .reasoning, the rest is content."""
    from rwkv_c import Stream
    data = b" <think>step one</think> The answer."
    s = Stream(tiny7, tiny7.tokenizer(), "The", len(data), None, (), Scripted(data), (), (),
               "auto")
    content = "".join(s)
    assert "step one" in s.reasoning and "<think>" not in content and "step one" not in content
    assert content.endswith("The answer.")
    with pytest.raises(ValueError):
        tiny7.generate("x", 1, think="maybe")


def test_token_ban_and_stop(world_model):
    model = RWKV(model=world_model, strategy="cpu fp32", verbose=False)
    pipeline = PIPELINE(model, "rwkv_vocab_v20230424")
    args = PIPELINE_ARGS(temperature=0, token_ban=[], seed=1)
    greedy = pipeline.encode(pipeline.generate("The", 5, args=args))
    banned = PIPELINE_ARGS(temperature=0, token_ban=[greedy[0]], seed=1)
    assert pipeline.encode(pipeline.generate("The", 5, args=banned))[:1] != greedy[:1]
    stop_first = PIPELINE_ARGS(temperature=0, token_stop=[greedy[0]], seed=1)
    assert pipeline.generate("The", 5, args=stop_first) == ""


def test_sample_logits():
    p = PIPELINE.__new__(PIPELINE)  # sample_logits needs no model
    p._sampler = Sampler(8, seed=3)
    logits = np.array([0, 1, 5, 2, 0, 0, 0, 4.9], dtype=np.float32)
    keep = logits.copy()
    assert p.sample_logits(logits, temperature=0) == 2
    assert p.sample_logits(logits, top_k=1) == 2
    assert np.array_equal(logits, keep)  # not modified
    # p = 0.500, 0.452, 0.025, ...: top-p 0.5 keeps token 2 alone, 0.9 tokens 2 and 7
    assert {p.sample_logits(logits, temperature=1.0, top_p=0.5) for _ in range(100)} == {2}
    assert {p.sample_logits(logits, temperature=1.0, top_p=0.9) for _ in range(200)} == {2, 7}
    draws = {p.sample_logits(logits, temperature=1.0, top_p=1.0) for _ in range(2000)}
    assert {2, 7, 3, 1} <= draws


def test_refine_context():
    p = PIPELINE.__new__(PIPELINE)
    assert p.refine_context("  a \n\n\u3000b\r\n  ") == "\na\nb"
    assert p.refine_context("") == "\n"
