"""A chat loop in the style of ChatRWKV's API_DEMO_CHAT.py, written against the official `rwkv`
pip package's API. The only change for rwkv_c is the two imports below (`rwkv.` -> `rwkv_c.`).

Usage: python chat_official.py MODEL TOP_P < messages   (one message per line; "+reset"
returns to the state after the system prompt). Prints one "Assistant:" reply per message.
"""
import copy
import sys

import numpy as np

from rwkv_c.model import RWKV  # official: from rwkv.model import RWKV
from rwkv_c.utils import PIPELINE  # official: from rwkv.utils import PIPELINE

np.random.seed(0)
MODEL = sys.argv[1]
GEN_TEMP = 1.0
GEN_TOP_P = float(sys.argv[2])
GEN_alpha_presence = 0.0
GEN_alpha_frequency = 1.0
GEN_penalty_decay = 0.996
CHUNK_LEN = 16

model = RWKV(model=MODEL, strategy="cpu fp32")
pipeline = PIPELINE(model, "rwkv_vocab_v20230424")

model_tokens = []
model_state = None


def run_rnn(ctx):
    global model_tokens, model_state
    ctx = ctx.replace("\r\n", "\n")
    tokens = pipeline.encode(ctx)
    tokens = [int(x) for x in tokens]
    model_tokens += tokens
    while len(tokens) > 0:
        out, model_state = model.forward(tokens[:CHUNK_LEN], model_state)
        tokens = tokens[CHUNK_LEN:]
    return out


init_ctx = "User: hi\n\nAssistant: Hi. I am your assistant and I will provide expert full " \
           "response in full details. Please feel free to ask any question and I will always " \
           "answer it.\n\n"
out = run_rnn(init_ctx)
saved = copy.deepcopy((out, model_state, model_tokens))

for msg in sys.stdin:
    msg = msg.strip()
    if msg == "+reset":
        out, model_state, model_tokens = copy.deepcopy(saved)
        print("(reset)")
        continue
    out = run_rnn("User: " + msg + "\n\nAssistant:")
    print("Assistant:", end="", flush=True)
    occurrence = {}
    out_tokens = []
    out_last = 0
    for i in range(60):
        for n in occurrence:
            out[n] -= GEN_alpha_presence + occurrence[n] * GEN_alpha_frequency
        out[0] -= 1e10  # disable END_OF_TEXT
        token = pipeline.sample_logits(out, temperature=GEN_TEMP, top_p=GEN_TOP_P)
        out, model_state = model.forward([token], model_state)
        model_tokens += [token]
        out_tokens += [token]
        for xxx in occurrence:
            occurrence[xxx] *= GEN_penalty_decay
        occurrence[token] = 1 + (occurrence[token] if token in occurrence else 0)
        tmp = pipeline.decode(out_tokens[out_last:])
        if ("\ufffd" not in tmp) and (not tmp.endswith("\n")):
            print(tmp, end="", flush=True)
            out_last = i + 1
        if "\n\n" in tmp:
            print(tmp, end="", flush=True)
            break
    print("\n[%d tokens]" % len(out_tokens))
    out = run_rnn("\n\n") if not pipeline.decode(out_tokens).endswith("\n\n") else out
