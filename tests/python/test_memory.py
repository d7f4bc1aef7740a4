"""10,000 evaluations (with state copies, serialization, tokenizer and sampler calls): the
resident memory stays flat."""
import numpy as np

from rwkv_c import Sampler


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 // 1024


def loop(m, tok, sampler, n):
    s = m.state()
    logits = m.eval([1, 2, 3], s)
    for i in range(n):
        t = sampler.sample(logits)
        logits = m.eval([t], s)
        if i % 10 == 0:
            c = s.copy()
            s.from_bytes(bytes(c))
            tok.decode(tok.encode("x%d" % i))
        if i % 500 == 0:
            s.reset()
            logits = m.eval([1], s)
            m.eval([1, 2, 3, 4], s, all_logits=True)


def test_rss_flat_over_10000_evals(tiny7):
    tok = tiny7.tokenizer()
    sampler = Sampler(256, seed=1, top_p=0.9, presence_penalty=0.1, tokenizer=tok)
    loop(tiny7, tok, sampler, 2000)  # warm-up: allocator pools, caches
    before = rss_kb()
    loop(tiny7, tok, sampler, 10000)
    after = rss_kb()
    print("RSS %d kB -> %d kB" % (before, after))
    assert after - before < 2048, "RSS grew from %d kB to %d kB" % (before, after)
    assert isinstance(tiny7.eval([1], tiny7.state()), np.ndarray)
