"""rwkv_c — Python bindings of rwkv.c (librwkv.so through ctypes; numpy optional).

Native API:  Model, State, Tokenizer, Sampler, RwkvError (see rwkv_c.core).
Official `rwkv` package API:  rwkv_c.model.RWKV, rwkv_c.utils.PIPELINE / PIPELINE_ARGS.
docs/PYTHON.md has the guide and the migration table.
"""
from ._lib import path as library_path
from .core import (WORLD_VOCAB, Model, RwkvError, Sampler, State, Stream, Tokenizer,
                   init_random)

__version__ = "0.1.0"
__all__ = ["Model", "State", "Tokenizer", "Sampler", "Stream", "RwkvError", "WORLD_VOCAB",
           "init_random", "library_path", "__version__"]
