"""The official reference outputs through Python: logits within 1e-4, serial and sequence mode,
every generation, and the state-tuning fixture."""
import numpy as np
import pytest
from conftest import shared

from rwkv_c import Model
from rwkv_c.model import RWKV

V = 256
CASES = [  # model file, fixture folder
    ("models/tiny-rwkv-7v0-834K.pth", "tiny-7v0-834K"),
    ("models/tiny-rwkv-6v0-3m-Q5_1.pth", "tiny-6v0-3m"),
    ("models/tiny-rwkv-5v2-730K.pth", "tiny-5v2-730K"),
    ("models/tiny-rwkv-5v1-730K.pth", "tiny-5v1-730K"),
    ("models/tiny-rwkv-4v0-660K.pth", "tiny-4v0-660K"),
]


def prompt():
    with open(shared("fixtures/prompts/quick_fox.bin"), "rb") as f:
        return list(f.read())


def ref(folder, name):
    return np.fromfile(shared("fixtures/%s/%s" % (folder, name)), dtype=np.float32)


@pytest.mark.parametrize("model_file,folder", CASES)
@pytest.mark.parametrize("serial", [False, True])
def test_all_logits(model_file, folder, serial):
    m = Model(shared(model_file), threads=2)
    toks = prompt()
    out = m.eval(toks, m.state(), all_logits=True, serial=serial)
    assert out.shape == (19, V) and out.dtype == np.float32
    d = np.abs(out - ref(folder, "logits-all-quick_fox.bin").reshape(19, V)).max()
    assert d <= 1e-4, "%s serial=%s: max abs diff %g" % (folder, serial, d)


@pytest.mark.parametrize("model_file,folder", CASES)
def test_forward_official_api(model_file, folder):
    """RWKV.forward: the whole prompt, then token by token from a copy of the state."""
    model = RWKV(model=shared(model_file), strategy="cpu fp32", verbose=False)
    toks = prompt()
    out, state = model.forward(toks, None)
    assert np.abs(out - ref(folder, "logits-quick_fox.bin")).max() <= 1e-4
    out, s2 = model.forward(toks[:10], None)
    for t in toks[10:]:
        out, s2 = model.forward([t], s2)
    assert np.abs(out - ref(folder, "logits-quick_fox.bin")).max() <= 1e-4
    full, _ = model.forward(toks, None, full_output=True)
    assert np.abs(full - ref(folder, "logits-all-quick_fox.bin").reshape(19, V)).max() <= 1e-4


def test_expected_logits_sanity_prompt():
    m = Model(shared("models/tiny-rwkv-7v0-834K.pth"))
    with open(shared("fixtures/prompts/sanity_quote_in.bin"), "rb") as f:
        toks = list(f.read())
    out = m.eval(toks, m.state())
    exp = np.fromfile(shared("models/expected-logits-7v0-834K.bin"), dtype=np.float32)
    assert np.abs(out - exp).max() <= 1e-4


@pytest.mark.parametrize("serial", [False, True])
def test_state_tuning_fixture(serial):
    m = Model(shared("models/tiny-rwkv-7v0-834K.pth"))
    s = m.state()
    s.load_tuning(shared("models/tiny-rwkv-7v0-834K-state.pth"))
    out = m.eval(prompt(), s, all_logits=True, serial=serial)
    exp = ref("tiny-7v0-834K", "logits-all-quick_fox-from-state.bin").reshape(19, V)
    assert np.abs(out - exp).max() <= 1e-4
    s.reset()  # back to the tuned state, not zero
    assert np.abs(m.eval(prompt(), s) - exp[18]).max() <= 1e-4
