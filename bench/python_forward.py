"""The overhead of one forward call from Python against the same call from C (decode: one token
per call). Rounds interleave the C loop (bench/forward_loop.c), rwkv_c's native Model.eval, the
official-API RWKV.forward and a bare ctypes call of rwkv_eval with preallocated buffers; each
prints the median microseconds per call over CALLS calls. Usage (from the repository root):

    python3 bench/python_forward.py MODEL [CALLS] [ROUNDS] [THREADS]

MODEL: e.g. `build/rwkv init --shape 0.1b --dtype fp16 --seed 1 bench/models/0.1b-fp16.pth`.
"""
import ctypes
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from rwkv_c import Model, _lib  # noqa: E402
from rwkv_c.model import RWKV  # noqa: E402


def median_us(fn, calls):
    for _ in range(20):
        fn(0)
    t = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        t.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(t)


def main():
    model = sys.argv[1]
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    exe = "/tmp/forward_loop_%d" % os.getpid()
    subprocess.run(["cc", "-O2", "-I" + os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "bench", "forward_loop.c"),
                    os.path.join(ROOT, "build", "librwkv.a"), "-lm", "-pthread", "-o", exe],
                   check=True)
    m = Model(model, threads=threads)
    s = m.state()
    official = RWKV(model=model, strategy="cpu fp32", verbose=False, threads=threads)
    ostate = [None]
    n_vocab = m.n_vocab
    buf = (ctypes.c_float * n_vocab)()
    tok = (ctypes.c_int32 * 1)()
    h_m, h_s = m._m, s._s

    def native(i):
        m.eval([1 + i % 200], s)

    def forward(i):
        out, ostate[0] = official.forward([1 + i % 200], ostate[0])

    def bare(i):
        tok[0] = 1 + i % 200
        _lib.lib.rwkv_eval(h_m, h_s, tok, 1, buf, 0)

    res = {"C rwkv_eval": [], "ctypes rwkv_eval": [], "Model.eval": [], "RWKV.forward": []}
    for r in range(rounds):
        out = subprocess.run([exe, model, str(calls), str(threads)], capture_output=True,
                             text=True, check=True).stdout.split()
        res["C rwkv_eval"].append(float(out[0]))
        res["ctypes rwkv_eval"].append(median_us(bare, calls))
        res["Model.eval"].append(median_us(native, calls))
        res["RWKV.forward"].append(median_us(forward, calls))
    os.unlink(exe)
    base = statistics.median(res["C rwkv_eval"])
    print("%s, %d calls x %d rounds, %d thread(s); median of the rounds' medians (us per call)"
          % (os.path.basename(model), calls, rounds, threads))
    for k, v in res.items():
        med = statistics.median(v)
        print("%-18s %10.1f  (+%.1f us vs C)   rounds: %s"
              % (k, med, med - base, " ".join("%.1f" % x for x in v)))


if __name__ == "__main__":
    main()
