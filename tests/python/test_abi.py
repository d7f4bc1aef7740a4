"""The ctypes structures match include/rwkv.h: sizes and field offsets as the C compiler lays
them out (a C program prints them), and every function the package binds is declared there."""
import ctypes
import os
import re
import shutil

import pytest
from conftest import ROOT, run

from rwkv_c import _lib

STRUCTS = {"rwkv_model_params": _lib.ModelParams, "rwkv_model_info": _lib.ModelInfo,
           "rwkv_sampler_params": _lib.SamplerParams, "rwkv_state_extra": _lib.StateExtra,
           "rwkv_state_loaded": _lib.StateLoaded, "rwkv_stream_params": _lib.StreamParams}


def test_struct_layouts(tmp_path):
    cc = os.environ.get("CC", "cc")
    if not shutil.which(cc):
        pytest.fail("no C compiler (%s) to check the structure layouts" % cc)
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "rwkv.h"', "int main(void) {"]
    for cname, py in STRUCTS.items():
        lines.append('printf("%s size %%zu\\n", sizeof(%s));' % (cname, cname))
        for f, _ in py._fields_:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (cname, f, cname, f))
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = str(tmp_path / "layout")
    r = run([cc, "-I", os.path.join(ROOT, "include"), "-o", exe, str(src)])
    assert r.returncode == 0, r.stderr
    got = dict(line.rsplit(" ", 1) for line in run([exe]).stdout.splitlines())
    for cname, py in STRUCTS.items():
        assert int(got["%s size" % cname]) == ctypes.sizeof(py), cname
        for f, _ in py._fields_:
            assert int(got["%s.%s" % (cname, f)]) == getattr(py, f).offset, "%s.%s" % (cname, f)


def test_bound_functions_are_declared():
    with open(os.path.join(ROOT, "include", "rwkv.h")) as f:
        declared = set(re.findall(r"\b(rwkv_[a-z0-9_]+)\s*\(", f.read()))
    assert set(_lib._protos) <= declared, set(_lib._protos) - declared
