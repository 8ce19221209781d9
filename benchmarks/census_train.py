"""Do the census programs train like torch? Each program runs unchanged under torch (three
seeds) and, with the import swap alone, under minigrad (the same seeds); their final losses
go into docs/torch_census.md ("## Trains like torch").

    python benchmarks/census_train.py --src DIR [--only NAME ...] [--seeds 3] [--out FILE]

DIR holds the programs' sources as benchmarks/torch_census.py reads them. Each run happens in
a fresh temporary folder holding a copy of the program (and its sibling files), generated data
where the program reads downloaded files, in a subprocess with one BLAS / torch thread.

What is changed, for both libraries alike, and recorded in the table:
- the data: generated files of the program's format (names per language, English-French
  pairs, a word corpus, sine waves), listed per program below;
- the length: the number of iterations / epochs / sequence length, cut to a few steps (the
  same constants rewritten in the source for both, or command-line flags);
- the packages torch does not ship (torchvision, torchtext and its legacy API, spaCy, GloVe):
  a small stand-in package of the same name, written into the program's folder, hands out
  generated data of the shapes and kinds the program expects (tensors built with whichever of
  torch / minigrad the program imported); the model, loss and training loop are untouched;
- a program that needs another's output (generate.py a checkpoint, train.py the sine
  waves) gets it by running that program first, under the same library (``then``);
- the seed: constant seeds (``torch.manual_seed(1)``, ``np.random.seed(0)``) are replaced by
  the run's seed, so that the three torch runs show torch's own spread.
The import swap is textual, on import statements only: ``import torch`` -> ``import minigrad
as torch``, ``import torch.nn as nn`` -> ``import minigrad.nn as nn``, ``from torch import
optim`` -> ``from minigrad import optim``, ``from torch.utils.data import X`` -> ``from
minigrad.utils.data import X``; everything else is the program's own text.

"Trains like torch": minigrad's mean final loss is within 10% of torch's mean, or inside the
range of torch's three seeds, whichever is wider.
"""
import argparse
import ast
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
from torch_census import local_path  # noqa: E402
from census_data import (eng_fra_data, multi30k_stand_in, names_data, no_data,  # noqa: E402
                         snli_stand_in, torchtext_stand_in, torchvision_stand_in,
                         wikitext_data)

TUTORIALS, EXAMPLES = "pytorch/tutorials", "pytorch/examples"


# ----------------------------------------------------------------------------- the swap

def swap_imports(source):
    """``source`` with every torch import statement pointed at minigrad (and nothing else)."""
    tree = ast.parse(source)
    lines = source.split("\n")
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "torch"
                                                for a in node.names):
            parts = []
            for a in node.names:
                if a.name.split(".")[0] != "torch":
                    parts.append(f"import {a.name}" + (f" as {a.asname}" if a.asname else ""))
                elif a.asname:
                    parts.append(f"import minigrad{a.name[5:]} as {a.asname}")
                elif a.name == "torch":
                    parts.append("import minigrad as torch")
                else:                   # import torch.onnx: the module, and the name torch
                    parts.append(f"import minigrad{a.name[5:]}; import minigrad as torch")
            edits.append((node, "; ".join(parts)))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "torch":
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "")
                              for a in node.names)
            edits.append((node, f"from minigrad{node.module[5:]} import {names}"))
    for node, text in sorted(edits, key=lambda e: -e[0].lineno):
        first = lines[node.lineno - 1]
        indent = first[:len(first) - len(first.lstrip())]
        lines[node.lineno - 1:node.end_lineno] = [indent + text]
    return "\n".join(lines)


class _Rewrite(ast.NodeTransformer):
    """Both libraries alike: numeric constants cut (``{100000: 300}``) and constant seeds
    replaced by the run's seed."""

    def __init__(self, constants, seed):
        self.constants, self.seed = constants, seed

    def visit_Constant(self, node):
        if type(node.value) in (int, float) and node.value in self.constants:
            return ast.copy_location(ast.Constant(self.constants[node.value]), node)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        name = ast.unparse(node.func)
        if name.endswith(("manual_seed", "random.seed")) and len(node.args) == 1 and \
                isinstance(node.args[0], ast.Constant):
            node.args[0] = ast.Constant(self.seed)
        return node


def prepare(source, constants, seed, swap):
    tree = _Rewrite(constants, seed).visit(ast.parse(source))
    text = ast.unparse(ast.fix_missing_locations(tree))
    return swap_imports(text) if swap else text


# ----------------------------------------------------------------------------- the programs

def tut(path):
    return (TUTORIALS, path)


def ex(path):
    return (EXAMPLES, path)


# name: program files ([0] is run; the rest are copied beside it, [-2] for "then" runs
# first), data, constant cuts, argv, the final-loss expression ("g:" evaluated in the
# program's globals, "out:" a regex on its output, last match), what was substituted.
PROGRAMS = {
    "char_rnn_classification": dict(
        files=[tut("intermediate_source/char_rnn_classification_tutorial.py")],
        data=names_data, constants={100000: 3000, 5000: 1000, 1000: 500, 10000: 100},
        loss="g:all_losses[-1]",
        note="data/names: 18 generated languages x 40 names; 3000 of 100000 iterations; "
             "confusion over 100 of 10000 samples"),
    "char_rnn_generation": dict(
        files=[tut("intermediate_source/char_rnn_generation_tutorial.py")],
        data=names_data, constants={100000: 2000, 5000: 1000, 500: 500},
        loss="g:all_losses[-1]",
        note="data/names as above; 2000 of 100000 iterations; uses add_(-lr, grad)"),
    "seq2seq_translation": dict(
        files=[tut("intermediate_source/seq2seq_translation_tutorial.py")],
        data=eng_fra_data, constants={75000: 400, 5000: 100, 256: 64},
        loss=r"out:\(\d+ \d+%\) ([0-9.]+)",
        note="data/eng-fra.txt: 149 generated pairs covering the sentences it translates; "
             "400 of 75000 iterations; hidden 64 of 256"),
    "sequence_models (LSTM tagger)": dict(
        files=[tut("beginner_source/nlp/sequence_models_tutorial.py")],
        data=no_data, constants={300: 100}, loss="g:loss.item()",
        note="100 of 300 epochs; data in the program"),
    "word_embeddings (n-gram LM)": dict(
        files=[tut("beginner_source/nlp/word_embeddings_tutorial.py")],
        data=no_data, constants={}, loss="g:losses[-1]",
        note="unchanged length (10 epochs); data in the program"),
    "deep_learning (BoW classifier)": dict(
        files=[tut("beginner_source/nlp/deep_learning_tutorial.py")],
        data=no_data, constants={}, loss="g:loss.item()",
        note="unchanged (100 epochs); data in the program; autograd.Variable"),
    "pytorch_tutorial (tensors)": dict(
        files=[tut("beginner_source/nlp/pytorch_tutorial.py")],
        data=no_data, constants={}, loss="run",
        note="no training: it runs to the end (nothing to compare)"),
    "transformer_tutorial": dict(
        files=[tut("beginner_source/transformer_tutorial.py")],
        data=torchtext_stand_in, constants={}, loss="g:test_loss",
        note="torchtext's legacy Field / WikiText2 (no current torchtext has them) replaced by "
             "a stand-in serving the generated 400-word corpus of the word_language_model rows "
             "(WikiText-2: 28785 words); unchanged otherwise (3 epochs, emsize 200)"),
    "time_sequence_prediction": dict(
        files=[ex("time_sequence_prediction/train.py"),
               ex("time_sequence_prediction/generate_sine_wave.py")],
        then="generate_sine_wave.py", data=no_data, constants={1000: 60, 100: 20},
        argv=["--steps", "2"], loss=r"out:test loss: ([0-9.e-]+)",
        torch_env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
        note="generate_sine_wave.py run first under the same library (N=20 of 100 waves, "
             "L=60 of 1000); 2 of 15 L-BFGS steps; future=60 of 1000. torch 2.13 refuses "
             "the example's torch.load of a NumPy array (weights_only=True since 2.6): its "
             "runs set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1; minigrad loads the array as is"),
    "word_language_model LSTM": dict(
        files=[ex("word_language_model/main.py"), ex("word_language_model/data.py"),
               ex("word_language_model/model.py")],
        data=wikitext_data, constants={},
        argv=["--epochs", "6", "--emsize", "64", "--nhid", "64", "--bptt", "20",
              "--batch_size", "8", "--lr", "20", "--seed", "{seed}"],
        loss="g:test_loss",
        note="data/wikitext-2: a generated 400-word bigram corpus (WikiText-2's vocabulary is "
             "33278); 6 of 40 epochs, emsize = nhid = 64 of 200; saves and reloads the whole "
             "model through serialization.safe_globals"),
    "word_language_model Transformer": dict(
        files=[ex("word_language_model/main.py"), ex("word_language_model/data.py"),
               ex("word_language_model/model.py")],
        data=wikitext_data, constants={},
        argv=["--model", "Transformer", "--epochs", "6", "--emsize", "32", "--nhid", "32",
              "--bptt", "20", "--batch_size", "8", "--lr", "2", "--seed", "{seed}"],
        loss="g:test_loss",
        note="as the LSTM row, emsize = nhid = 32; --model Transformer, lr 2"),
    "word_language_model generate.py": dict(
        files=[ex("word_language_model/generate.py"), ex("word_language_model/main.py"),
               ex("word_language_model/data.py"), ex("word_language_model/model.py")],
        then=["main.py", "--epochs", "6", "--emsize", "64", "--nhid", "64", "--bptt", "20",
              "--batch_size", "8", "--lr", "20", "--seed", "{seed}"],
        data=wikitext_data, constants={}, argv=["--seed", "{seed}"], loss="bigram",
        note="the checkpoint: main.py run first under the same library (the LSTM row's data "
             "and sizes, 6 of 40 epochs), saved whole and loaded by generate.py through "
             "serialization.safe_globals; generate.py unchanged (1000 words). The figure is not "
             "a loss but the share of the generated word pairs that occur in the training "
             "corpus (higher is better; a 400-word corpus where each word has 3 successors)"),
    "mnist_rnn": dict(
        files=[ex("mnist_rnn/main.py")], data=torchvision_stand_in, constants={},
        argv=["--epochs", "3", "--log-interval", "100", "--seed", "{seed}"],
        loss=r"out:Average loss: ([0-9.]+)",
        note="torchvision's MNIST / ToTensor / Normalize replaced by a stand-in: 2048 train "
             "and 512 test generated images of MNIST's shape (1 x 28 x 28, uint8, 10 classes; "
             "MNIST: 60000 / 10000), one stroke pattern per class, shifted and noised; 3 of 14 "
             "epochs; the figure is the last test loss"),
    "legacy/snli": dict(
        files=[ex("legacy/snli/train.py"), ex("legacy/snli/model.py"),
               ex("legacy/snli/util.py")],
        data=snli_stand_in, constants={},
        argv=["--epochs", "4", "--d_proj", "64", "--d_hidden", "64", "--dev_every", "10",
              "--log_every", "5"],
        loss="g:dev_loss.item()",
        note="torchtext.legacy's Field / SNLI / BucketIterator and the GloVe vectors "
             "(glove.6B.100d) replaced by a stand-in: 1280 / 128 / 128 generated premise - "
             "hypothesis pairs over 600 words (SNLI: 550k pairs, about 36000 words; "
             "entailment = a stretch of the premise, contradiction = the same with 'not', "
             "neutral = other words), vectors seeded normal of width 100, spaCy's tokenizer "
             "not needed (the stand-in hands out words); 4 of 50 epochs, d_proj = d_hidden "
             "= 64 of 300; the figure is the dev loss after the last epoch (dev = one batch); "
             "saves the whole model (its constructor takes the argparse Namespace)"),
    "language_translation": dict(
        files=[ex("language_translation/main.py"), ex("language_translation/src/model.py"),
               ex("language_translation/src/data.py")],
        data=multi30k_stand_in, constants={},
        argv=["--epochs", "8", "--batch", "64", "--enc_layers", "2", "--dec_layers", "2",
              "--embed_size", "64", "--dim_feedforward", "128", "--attn_heads", "4",
              "--lr", "1e-3", "--logging_dir", "./logs/"],
        loss=r"out:Val loss: ([0-9.]+)",
        note="torchtext's Multi30k, spaCy tokenizers and build_vocab_from_iterator replaced "
             "by a stand-in: 1024 / 128 generated German-English pairs over 200 + 200 words "
             "(Multi30k: 29000 pairs, about 19000 / 10000 words), word for word but for one "
             "reordering, split on spaces; 8 of 30 epochs, 2 + 2 of 5 + 5 layers, embed 64 "
             "of 512, feed-forward 128 of 512, 4 of 8 heads, lr 1e-3 of 1e-4; the figure is "
             "the last validation loss"),
}

RUNNER = r"""
import json, os, random, runpy, sys
lib, seed, script, expr, argv, then = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5]), sys.argv[6]
import numpy as np
import matplotlib
matplotlib.use("Agg")
random.seed(seed)
np.random.seed(seed)
if lib == "torch":
    import torch
    torch.set_num_threads(1)
else:
    import minigrad as torch
torch.manual_seed(seed)
sys.path.insert(0, os.getcwd())
then = json.loads(then)
if then:
    sys.argv = then
    runpy.run_path(then[0], run_name="__main__")
sys.argv = [script] + argv
g = runpy.run_path(script, run_name="__main__")
if expr.startswith("g:"):
    print("CENSUS_LOSS", json.dumps(float(eval(expr[2:], g))))
elif expr == "bigram":
    # the share of generated word pairs that the training corpus holds (its token stream)
    stream = []
    for line in open(os.path.join("data", "wikitext-2", "train.txt"), encoding="utf-8"):
        stream += line.split() + ["<eos>"]
    seen = set(zip(stream, stream[1:]))
    words = open("generated.txt", encoding="utf-8").read().split()
    pairs = list(zip(words, words[1:]))
    print("CENSUS_LOSS", json.dumps(sum(p in seen for p in pairs) / len(pairs)))
else:
    print("CENSUS_LOSS", json.dumps(0.0))
"""


def _then(spec):
    """The program run first, as its argv (``then``: a file name or [name, arg, ...])."""
    then = spec.get("then", [])
    return [then] if isinstance(then, str) else then


def run_once(src, spec, lib, seed, timeout):
    folder = tempfile.mkdtemp(prefix="census_")
    try:
        spec["data"](folder)
        home = os.path.dirname(spec["files"][0][1])
        for repo, path in spec["files"]:
            with open(local_path(src, repo, path), encoding="utf-8") as f:
                text = f.read()
            target = os.path.join(folder, os.path.relpath(path, home))   # src/model.py
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(prepare(text, spec["constants"], seed, lib == "minigrad"))
        env = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT), MPLBACKEND="Agg",
                   OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        if lib == "torch":
            env.update(spec.get("torch_env", {}))
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            env.pop(var, None)
        script = os.path.basename(spec["files"][0][1])
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", RUNNER, lib, str(seed), script, spec["loss"],
             json.dumps([a.format(seed=seed) for a in spec.get("argv", [])]),
             json.dumps([a.format(seed=seed) for a in _then(spec)])],
            cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            return None, seconds, proc.stderr.strip().splitlines()[-1][:200]
        if not spec["loss"].startswith("out:"):
            value = json.loads(proc.stdout.rsplit("CENSUS_LOSS", 1)[1])
        else:
            found = re.findall(spec["loss"][4:], proc.stdout + "\n" + proc.stderr)  # logging
            if not found:
                return None, seconds, "no loss line in the output"
            value = float(found[-1])
        return value, seconds, ""
    except subprocess.TimeoutExpired:
        return None, timeout, f"timed out after {timeout} s"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def verdict(torch_losses, mg_losses, kind="g:"):
    if not torch_losses or not mg_losses:
        return "did not run"
    if kind == "run":
        return "runs"
    mean = statistics.mean(torch_losses)
    lo, hi = min(torch_losses), max(torch_losses)
    m = statistics.mean(mg_losses)
    if abs(m - mean) <= 0.1 * abs(mean) or lo <= m <= hi:
        return "yes"
    return "NO"


def fmt(v):
    return "-" if v is None else f"{v:.4g}"


def table(results, seeds):
    lines = ["## Trains like torch", "",
             "Written by `python benchmarks/census_train.py --src DIR` (torch "
             f"{results['torch_version']}, CPU, one thread; seeds {', '.join(map(str, seeds))}; "
             f"BLAS {results['blas']}). Each program ran unchanged under torch and, with the "
             "import swap alone, under minigrad, on the same generated data, seeds and number "
             "of steps. \"Trains like torch\": minigrad's mean final loss is within 10% of "
             "torch's mean, or inside torch's range over its seeds.", "",
             "| program | final loss: torch (per seed) | torch mean | minigrad (per seed) | "
             "minigrad mean | like torch | what was substituted |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results["programs"].items():
        t, m = r["torch"], r["minigrad"]
        tl = [v for v in t if v is not None]
        ml = [v for v in m if v is not None]
        note = r["note"] + ("; errors: " + "; ".join(sorted(set(r["errors"]))) if r["errors"]
                            else "")
        lines.append(f"| {name} | {', '.join(fmt(v) for v in t)} | "
                     f"{fmt(statistics.mean(tl)) if tl else '-'} | "
                     f"{', '.join(fmt(v) for v in m)} | "
                     f"{fmt(statistics.mean(ml)) if ml else '-'} | {verdict(tl, ml, r['kind'])} | "
                     f"{note.replace('|', '/')} |")
    lines += ["", "Stand-ins: torchvision, torchtext (its legacy API too) and spaCy are not "
              "part of torch; a program that imports them gets, under both libraries alike, "
              "a small package of the same name in its folder (written by this script) that "
              "hands out generated data of the shapes the program expects, built with "
              "whichever of torch / minigrad the program imported. The model, loss and "
              "training loop are the program's own text.", ""]
    return "\n".join(lines)


def merge(old, new):
    """``old`` (the file's "Trains like torch" section) with the rows of ``new`` put in place
    (a row is replaced where its program has one, appended after the last row otherwise) and
    ``new``'s closing lines; for runs of some programs only (``--only``)."""
    old_lines, rows = old.split("\n"), {}
    for line in new.split("\n"):
        if line.startswith("| ") and not line.startswith(("| program", "|---")):
            rows[line.split(" | ")[0]] = line
    for i, line in enumerate(old_lines):
        key = line.split(" | ")[0]
        if line.startswith("| ") and key in rows:
            old_lines[i] = rows.pop(key)
    last = max(i for i, line in enumerate(old_lines) if line.startswith("| "))
    new_lines = new.split("\n")
    tail = max(i for i, line in enumerate(new_lines) if line.startswith("| "))
    return "\n".join(old_lines[:last + 1] + list(rows.values()) + new_lines[tail + 1:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--only", nargs="*", default=None, help="program names (substrings)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "torch_census.md"))
    parser.add_argument("--json", default=None, help="also write the raw results here")
    args = parser.parse_args(argv)
    import threadpoolctl
    import numpy  # noqa: F401  (for threadpoolctl to see its BLAS)
    import torch
    info = threadpoolctl.threadpool_info()
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} "
                     f"{i.get('architecture', '')}".strip() for i in info) or "unknown"
    print(f"torch {torch.__version__}; BLAS: {blas}; one thread per run")
    seeds = list(range(args.seeds))
    results = {"torch_version": torch.__version__, "blas": blas, "programs": {}}
    for name, spec in PROGRAMS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        r = {"torch": [], "minigrad": [], "errors": [], "note": spec["note"], "seconds": {},
             "kind": spec["loss"]}
        for seed in seeds:
            for lib in ("torch", "minigrad"):
                value, seconds, err = run_once(args.src, spec, lib, seed, args.timeout)
                r[lib].append(value)
                r["seconds"].setdefault(lib, []).append(round(seconds, 1))
                if err:
                    r["errors"].append(f"{lib}: {err}")
                print(f"{name:34s} {lib:8s} seed {seed}: {fmt(value):>10s} "
                      f"({seconds:.1f} s) {err}", flush=True)
        results["programs"][name] = r
        done = {lib: [v for v in r[lib] if v is not None] for lib in ("torch", "minigrad")}
        print(f"{name}: like torch? {verdict(done['torch'], done['minigrad'], r['kind'])}",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    text = table(results, seeds)
    if args.out:
        old = open(args.out, encoding="utf-8").read() if os.path.exists(args.out) else ""
        marker = "\n## Trains like torch"
        if args.only and marker in old:         # some programs: their rows only
            text = merge(old[old.index(marker) + 1:], text)
        old = old[:old.index(marker)] if marker in old else old
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
    print(text)


if __name__ == "__main__":
    main()
