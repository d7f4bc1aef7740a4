"""Fixtures of the Python package's tests (run by `make test-python`, part of `make check`).

They import rwkv_c from python/ of this checkout and the library from $RWKV_LIB (the Makefile
sets it to $(BUILD)/librwkv.so); the models and reference outputs come from $RWKV_SHARED
(default ../shared), as for the C tests. The summary ends with the line "N passed, N failed"
and a SKIP line per skipped test, which tests/check.sh counts and repeats.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

SHARED = os.environ.get("RWKV_SHARED") or os.path.join(ROOT, "..", "shared")
BUILD = os.environ.get("BUILD", "build")
RWKV_BIN = os.path.join(ROOT, BUILD, "rwkv")


def shared(rel):
    return os.path.join(SHARED, rel)


def pytest_sessionstart(session):
    if not os.path.isdir(SHARED):
        raise pytest.UsageError("the shared models and fixtures are missing: %s (set RWKV_SHARED)"
                                % SHARED)


def pytest_terminal_summary(terminalreporter):
    st = terminalreporter.stats
    for rep in st.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        terminalreporter.write_line("SKIP %s: %s" % (rep.nodeid, reason))
    passed = len(st.get("passed", []))
    failed = len(st.get("failed", [])) + len(st.get("error", []))
    terminalreporter.write_line("%d passed, %d failed" % (passed, failed))


@pytest.fixture(scope="session")
def rwkv_bin():
    assert os.access(RWKV_BIN, os.X_OK), "the rwkv command %s is not built" % RWKV_BIN
    return RWKV_BIN


@pytest.fixture(scope="session")
def tiny7():
    """The RWKV-7 test model (byte-level, 256 tokens)."""
    from rwkv_c import Model
    return Model(shared("models/tiny-rwkv-7v0-834K.pth"), threads=2)


@pytest.fixture(scope="session")
def world_model(tmp_path_factory):
    """A small random RWKV-7 model with the World vocabulary next to it (65536 tokens)."""
    from rwkv_c import init_random
    d = tmp_path_factory.mktemp("world")
    path = str(d / "L2C64-world.pth")
    init_random(path, shape="L2C64", dtype="fp32", seed=7, vocab=65536)
    os.symlink(shared("data/rwkv_vocab_v20230424.txt"), str(d / "rwkv_vocab_v20230424.txt"))
    return path


def run(cmd, **kw):
    """subprocess.run with text output captured and a timeout."""
    kw.setdefault("timeout", 300)
    kw.setdefault("text", True)
    return subprocess.run(cmd, capture_output=True, **kw)
