"""A ChatRWKV-style chat loop written against the official API (chat_official.py) runs unchanged
but for its imports: replies come out, +reset restores the deep-copied state, runs repeat."""
import os
import sys

from conftest import run

HERE = os.path.dirname(os.path.abspath(__file__))


def chat(model, top_p, messages):
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "..", "python"))
    r = run([sys.executable, os.path.join(HERE, "chat_official.py"), model, str(top_p)],
            input="".join(m + "\n" for m in messages), env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def replies(out):
    return [line for line in out.split("\n") if line.startswith("Assistant:")]


def test_official_chat_loop_runs(world_model):
    with open(os.path.join(HERE, "chat_official.py")) as f:
        src = f.read()
    # the script is the official API but for the two imports
    imports = [l.split("#")[0].strip() for l in src.splitlines() if l.startswith(("from", "import"))
               and "rwkv" in l]
    assert imports == ["from rwkv_c.model import RWKV", "from rwkv_c.utils import PIPELINE"]
    out = chat(world_model, 0.3, ["Hello!", "What is RWKV?", "+reset", "Hello!"])
    assert out.count("Assistant:") == 3 and "(reset)" in out and out.count("tokens]") == 3
    again = chat(world_model, 0.3, ["Hello!", "What is RWKV?", "+reset", "Hello!"])
    assert again == out  # np.random.seed(0) in the script makes the run repeatable


def test_reset_restores_the_copied_state(world_model):
    # top_p 0: the most probable token each time, so equal states give equal replies
    out = chat(world_model, 0.0, ["Hello!", "Tell me more.", "+reset", "Hello!"])
    r = replies(out)
    assert len(r) == 3 and r[0] == r[2] and r[0] != "Assistant:"
