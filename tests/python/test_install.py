"""`pip install ./python` offline into a fresh virtual environment (no numpy there): the
installed package finds librwkv.so (the build tree recorded at install, or RWKV_LIB), gives
the reference logits as array('f'), and `python -m rwkv_c` works."""
import os
import sys

import pytest
from conftest import ROOT, run, shared

SCRIPT = r"""
import array, sys
import rwkv_c
from rwkv_c.model import RWKV
assert "site-packages" in rwkv_c.__file__, rwkv_c.__file__
m = RWKV(model=sys.argv[1], strategy="cpu fp32", verbose=False)
out, state = m.forward(list(b"The quick brown fox"), None)
ref = array.array("f", open(sys.argv[2], "rb").read())
assert isinstance(out, array.array) and out.typecode == "f", type(out)
d = max(abs(a - b) for a, b in zip(out, ref))
assert d <= 1e-4, d
print("ok", rwkv_c.library_path, d)
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    d = tmp_path_factory.mktemp("venv")
    r = run([sys.executable, "-m", "venv", str(d)])
    assert r.returncode == 0, "python3 -m venv failed (Debian: python3-venv): " + r.stderr
    py = str(d / "bin" / "python")
    r = run([py, "-m", "pip", "install", "--no-index", "--no-cache-dir", "-q",
             os.path.join(ROOT, "python")])
    assert r.returncode == 0, "pip install ./python failed offline:\n" + r.stdout + r.stderr
    return py


def test_installed_package_without_numpy(venv):
    r = run([venv, "-c", "import numpy"])
    assert r.returncode != 0  # the venv has no numpy: the array('f') path is used
    env = dict(os.environ, RWKV_LIB=os.path.join(ROOT, os.environ.get("BUILD", "build"),
                                                 "librwkv.so"))
    r = run([venv, "-c", SCRIPT, shared("models/tiny-rwkv-7v0-834K.pth"),
             shared("fixtures/tiny-7v0-834K/logits-quick_fox.bin")], env=env, cwd="/")
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stdout + r.stderr


def test_installed_package_finds_the_build_tree(venv):
    if not os.path.exists(os.path.join(ROOT, "build", "librwkv.so")):
        pytest.skip("no build/librwkv.so (the default build tree) to record at install")
    env = {k: v for k, v in os.environ.items() if k != "RWKV_LIB"}
    r = run([venv, "-c", "import rwkv_c; print(rwkv_c.library_path)"], env=env, cwd="/")
    assert r.returncode == 0, r.stderr
    assert os.path.realpath(r.stdout.strip()) == \
        os.path.realpath(os.path.join(ROOT, "build", "librwkv.so"))


def test_python_m_rwkv_c_installed(venv):
    r = run([venv, "-m", "rwkv_c", "generate", "-m", shared("models/tiny-rwkv-7v0-834K.pth"),
             "-p", "The", "-n", "20", "--temperature", "0", "-q"], cwd="/")
    assert r.returncode == 0 and len(r.stdout) > 0, r.stderr
    r = run([venv, "-m", "rwkv_c", "info", shared("models/tiny-rwkv-7v0-834K.pth")], cwd="/")
    assert r.returncode == 0 and '"n_layer": 12' in r.stdout, r.stderr
    r = run([venv, "-m", "rwkv_c", "info", "/nonexistent.pth"], cwd="/")
    assert r.returncode == 1 and "nonexistent.pth" in r.stderr and "Traceback" not in r.stderr
