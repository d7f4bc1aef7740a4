"""Threads: two Python threads on two states of one model get the reference logits; a call into
the library releases the GIL (a second thread runs while the first waits inside C)."""
import os
import sys
import threading

import numpy as np
from conftest import run, shared

from rwkv_c import Model

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_threads_two_states_one_model():
    m = Model(shared("models/tiny-rwkv-7v0-834K.pth"), threads=2)
    toks = list(open(shared("fixtures/prompts/quick_fox.bin"), "rb").read())
    ref = np.fromfile(shared("fixtures/tiny-7v0-834K/logits-all-quick_fox.bin"),
                      dtype=np.float32).reshape(19, 256)
    errors = []

    def worker(serial):
        try:
            for _ in range(30):
                s = m.state()
                if serial:  # token by token
                    for i, t in enumerate(toks):
                        d = np.abs(m.eval([t], s) - ref[i]).max()
                        if d > 1e-4:
                            errors.append("token %d: %g" % (i, d))
                else:
                    d = np.abs(m.eval(toks, s, all_logits=True) - ref).max()
                    if d > 1e-4:
                        errors.append("sequence: %g" % d)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(k,)) for k in (False, True)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


GIL_SCRIPT = r"""
import os, sys, threading
from rwkv_c import Model, RwkvError
fifo = sys.argv[1]
def writer():  # Python code: runs only if the main thread released the GIL
    fd = os.open(fifo, os.O_WRONLY)
    os.close(fd)
threading.Thread(target=writer, daemon=True).start()
try:
    Model(fifo)  # blocks inside the library's open() until the writer opens the FIFO
except RwkvError as e:
    print("released:", e)
"""


def test_library_calls_release_the_gil(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "..", "python"))
    r = run([sys.executable, "-c", GIL_SCRIPT, fifo], env=env, timeout=60)
    assert r.returncode == 0 and "released:" in r.stdout and "not a regular file" in r.stdout, \
        r.stdout + r.stderr
