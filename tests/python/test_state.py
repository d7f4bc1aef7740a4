"""States: save/load round trips (files and bytes), copies, floats, and refusals."""
import copy

import numpy as np
import pytest
from conftest import shared

from rwkv_c import Model, RwkvError

TOKS = list(b"The quick brown fox")


def test_save_load_continue_bit_identical(tiny7, tmp_path):
    a = tiny7.state()
    tiny7.eval(TOKS[:10], a)
    path = str(tmp_path / "s.state")
    logits = tiny7.eval(TOKS[10:12], a)
    a.save(path, logits=logits, text="The quick b")
    b = tiny7.state()
    extra = b.load(path)
    assert extra["n_tokens"] == 12 and b.n_tokens == 12
    assert extra["text"] == "The quick b"
    assert np.array_equal(extra["logits"], logits)
    assert np.array_equal(a.floats(), b.floats())
    # continuing from the loaded state equals continuing from the original, bit for bit
    assert np.array_equal(tiny7.eval(TOKS[12:], a), tiny7.eval(TOKS[12:], b))


def test_bytes_round_trip_and_copies(tiny7):
    a = tiny7.state()
    tiny7.eval(TOKS, a)
    data = bytes(a)
    b = tiny7.state()
    assert b.from_bytes(data)["n_tokens"] == len(TOKS)
    assert np.array_equal(a.floats(), b.floats())
    c, d = a.copy(), copy.deepcopy(a)
    tiny7.eval([1, 2, 3], a)  # the copies do not follow
    assert np.array_equal(c.floats(), b.floats()) and np.array_equal(d.floats(), b.floats())
    assert not np.array_equal(a.floats(), b.floats())
    e = tiny7.state()
    e.set_floats(b.floats())
    assert np.array_equal(e.floats(), b.floats())
    a.reset()
    assert a.n_tokens == 0 and not a.floats().any()


def test_damaged_and_foreign_states_refused(tiny7, tmp_path):
    a = tiny7.state()
    tiny7.eval(TOKS, a)
    data = bytearray(bytes(a))
    data[len(data) // 2] ^= 0x40
    b = tiny7.state()
    before = b.floats()
    with pytest.raises(RwkvError) as e:
        b.from_bytes(bytes(data))
    assert e.value.status_name == "format error" and str(e.value)
    assert np.array_equal(b.floats(), before)  # unchanged on failure
    with pytest.raises(RwkvError):
        b.from_bytes(bytes(data[:40]))
    other = Model(shared("models/tiny-rwkv-5v2-730K.pth"))
    with pytest.raises(RwkvError) as e:
        other.state().from_bytes(bytes(a))
    assert e.value.status == 8  # RWKV_ERR_MISMATCH
    with pytest.raises(RwkvError) as e:
        b.load(str(tmp_path / "missing.state"))
    assert "missing.state" in str(e.value)
