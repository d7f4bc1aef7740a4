"""Bad input becomes a Python exception carrying the library's message, never a crash."""
import os

import pytest
from conftest import shared

from rwkv_c import Model, RwkvError, Sampler, Tokenizer
from rwkv_c.model import RWKV, parse_strategy


def test_missing_model_file(tmp_path):
    with pytest.raises(RwkvError) as e:
        Model(str(tmp_path / "nope.pth"))
    assert "nope.pth" in str(e.value) and "No such file" in str(e.value)
    assert e.value.status == 2 and e.value.status_name  # RWKV_ERR_IO


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"PK\x03\x04" + b"\0" * 100,
                                     b"GGUF" + b"\xff" * 60])
def test_garbage_model_file(tmp_path, content):
    p = tmp_path / "bad.pth"
    p.write_bytes(content)
    with pytest.raises(RwkvError) as e:
        Model(str(p))
    assert str(e.value) and e.value.status_name


def test_truncated_model(tmp_path):
    data = open(shared("models/tiny-rwkv-7v0-834K.pth"), "rb").read()
    p = tmp_path / "half.pth"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(RwkvError):
        Model(str(p))


def test_bad_vocabulary(tmp_path):
    p = tmp_path / "v.txt"
    p.write_bytes(b"1 'a' 1\nthis is not a vocabulary line\n")
    with pytest.raises(RwkvError) as e:
        Tokenizer(str(p))
    assert "v.txt" in str(e.value)


def test_eval_errors_leave_the_state(tiny7):
    s = tiny7.state()
    tiny7.eval([1, 2, 3], s)
    before = s.floats()
    with pytest.raises(RwkvError) as e:
        tiny7.eval([5, 256], s)  # out of range
    assert e.value.status == 7 and "256" in str(e.value)
    assert (s.floats() == before).all() and s.n_tokens == 3
    with pytest.raises(ValueError):
        tiny7.eval([], s)
    other = Model(shared("models/tiny-rwkv-7v0-834K.pth"))
    with pytest.raises(ValueError):
        other.eval([1], s)  # a state of another model


def test_sampler_parameters():
    with pytest.raises(RwkvError) as e:
        Sampler(256, top_p=1.5)
    assert "top_p" in str(e.value)
    with pytest.raises(RwkvError):
        Sampler(256, temperature=-1)
    with pytest.raises(ValueError):
        Sampler(256).sample([0.0] * 10)


@pytest.mark.parametrize("strategy,words", [
    ("cuda fp16", "CUDA"), ("cuda fp16 *10 -> cpu fp32", "CUDA"), ("mps fp32", "MPS"),
    ("cpu fp32i8", "rwkv quantize"), ("cpu fp64", "dtype"), ("cpu", "DEVICE DTYPE"),
    ("cpu fp32 *x", "layer count"), ("tpu fp32", "unknown device"),
    ("cpu fp32 -> vulkan fp32", "across devices")])
def test_strategies_refused(strategy, words):
    with pytest.raises(ValueError) as e:
        parse_strategy(strategy)
    assert words in str(e.value)


def test_strategies_accepted():
    assert parse_strategy("cpu fp32") == "cpu"
    assert parse_strategy("cpu bf16") == "cpu"
    assert parse_strategy("cpu fp32 *6 -> cpu fp32 *6+") == "cpu"
    assert parse_strategy("vulkan fp16") == "vulkan"
    assert parse_strategy("vulkan:1 fp32") == "vulkan:1"


def test_devices_reach_the_library():
    """device= and the strategy's device are the library's rwkv_model_params.device."""
    path = shared("models/tiny-rwkv-7v0-834K.pth")
    assert Model(path, device="cpu").info["backend"] == "cpu"
    with pytest.raises(RwkvError) as e:
        Model(path, device="bogus")
    assert "unknown device 'bogus'" in str(e.value)
    try:
        m = RWKV(model=path, strategy="vulkan fp32", verbose=False)
        assert m.native.info["backend"] == "vulkan"
    except RwkvError as e:  # a build without the Vulkan backend says so
        assert e.status == 4 and "Vulkan" in str(e)


def test_official_name_without_extension():
    name = shared("models/tiny-rwkv-7v0-834K")  # the official package appends .pth
    assert RWKV(model=name, strategy="cpu fp32", verbose=False).args.n_layer == 12


def test_closed_model(tmp_path):
    m = Model(shared("models/tiny-rwkv-7v0-834K.pth"))
    m.close()
    with pytest.raises(ValueError):
        m.state()


def test_library_not_found(tmp_path):
    import subprocess
    import sys
    env = dict(os.environ, RWKV_LIB=str(tmp_path / "librwkv.so"))
    r = subprocess.run([sys.executable, "-c", "import rwkv_c"], env=env, capture_output=True,
                       text=True, cwd=os.path.join(os.path.dirname(__file__), "..", "..", "python"))
    assert r.returncode != 0 and "cannot load librwkv.so" in r.stderr and "RWKV_LIB" in r.stderr


def test_model_outlives_its_states():
    m = Model(shared("models/tiny-rwkv-7v0-834K.pth"))
    s = m.state()
    m.eval([1, 2], s)
    m.close()  # deferred: the state still needs the model
    assert s.n_tokens == 2 and len(s.floats()) > 0 and len(bytes(s)) > 0
    with pytest.raises(ValueError):
        m.eval([1], s)
    with pytest.raises(ValueError):
        s.copy()
    with pytest.raises(ValueError):
        m.state()
    del s
    import gc
    gc.collect()
    assert m._m is None  # freed with its last state


def test_cycles_at_exit_do_not_crash():
    """Finalizers of a model and its states run in any order at interpreter exit."""
    import subprocess
    import sys
    code = ("from rwkv_c import Model\nm = Model(%r)\ns = m.state()\nm.eval([1], s)\n"
            "cycle = [m, s, s.copy()]\ncycle.append(cycle)\n"
            % shared("models/tiny-rwkv-7v0-834K.pth"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=os.path.join(os.path.dirname(__file__), "..", "..", "python"))
    assert r.returncode == 0, r.stderr
