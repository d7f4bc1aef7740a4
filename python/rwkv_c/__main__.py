"""python -m rwkv_c: command-line entry points over the same code paths as the library API.

    python -m rwkv_c generate -m MODEL -p TEXT [-n N] [--temperature T] [--top-p P] [--top-k K]
                              [--presence-penalty X] [--frequency-penalty X]
                              [--penalty-decay X] [--seed N] [--stop STR]... [--vocab FILE]
                              [--threads N] [--device DEV]
    python -m rwkv_c info MODEL
"""
import argparse
import json
import sys

from .core import Model, RwkvError


def _generate(a):
    model = Model(a.model, threads=a.threads, device=a.device)
    tok = model.tokenizer(a.vocab)
    prompt = a.prompt
    if a.prompt_file:
        with open(a.prompt_file, "rb") as f:
            prompt = f.read()
    if prompt is None:
        raise SystemExit("rwkv_c: generate: give -p TEXT or -f FILE")
    stream = model.generate(prompt, a.n_tokens, tokenizer=tok, stop=a.stop,
                            temperature=a.temperature, top_p=a.top_p, top_k=a.top_k,
                            presence_penalty=a.presence_penalty,
                            frequency_penalty=a.frequency_penalty,
                            penalty_decay=a.penalty_decay, seed=a.seed)
    out = sys.stdout
    for piece in stream:
        out.write(piece)
        out.flush()
    if out.isatty():
        out.write("\n")
    if not a.quiet:
        print("rwkv_c: %d generated tokens, stopped: %s" % (len(stream.tokens), stream.stopped),
              file=sys.stderr)


def _info(a):
    print(json.dumps(Model(a.model, threads=1).info))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m rwkv_c")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate text after a prompt")
    g.add_argument("-m", "--model", required=True)
    g.add_argument("-p", "--prompt")
    g.add_argument("-f", "--prompt-file")
    g.add_argument("-n", "--n-tokens", type=int, default=128)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--presence-penalty", type=float, default=0.0)
    g.add_argument("--frequency-penalty", type=float, default=0.0)
    g.add_argument("--penalty-decay", type=float, default=0.996)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--stop", action="append", default=[])
    g.add_argument("--vocab")
    g.add_argument("--threads", type=int, default=0)
    g.add_argument("--device")
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=_generate)
    i = sub.add_parser("info", help="the model's description as one JSON line")
    i.add_argument("model")
    i.set_defaults(func=_info)
    a = p.parse_args(argv)
    try:
        a.func(a)
    except RwkvError as e:
        print("rwkv_c: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
