"""Trains a bank with PyTorch, on one process or many (DESIGN §12), in the shape of nanoGPT's and
llama2.c's train.py: options, the data, the model, the optimizer, then the loop.

    cd python
    python3 -m memread_torch.train --tokens DIR --tokenizer FILE --out BANK [options]
    python3 -m memread_torch.train ... --processes 2                 # N processes on this machine
    torchrun --nproc_per_node 8 -m memread_torch.train ... --device cuda   # where torchrun works

DIR holds train.tokens and validation.tokens (and test.tokens), written by `memread tokens` for
the tokenizer FILE (`memread merges`, or a bank). The options, the learning-rate schedule, the
sequences of each step and the bank's metadata are the C++ trainer's (`memread train --help`).
Each step's global batch is split across the processes and, within each, into --accumulate
micro-batches; the gradient is the mean over the whole batch, whatever the split.
"""

import argparse
import json
import math
import os
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .bank import FormatError, round_to_f16, round_to_i8, write_bank
from .data import Sequences, TokenFile, read_tokenizer
from .model import MemRead, stream_bits
from .safetensors import parse, parse_json_object, serialize, write_file

# ---- options ------------------------------------------------------------------------------------

MODEL_OPTIONS = ("dim", "layers", "slots", "context", "position", "max_context")


def parse_options(argv):
    p = argparse.ArgumentParser(prog="python3 -m memread_torch.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", required=True, help="directory with train.tokens, validation.tokens [, test.tokens]")
    p.add_argument("--tokenizer", required=True, help="the tokenizer file (memread merges) or a bank")
    p.add_argument("--out", required=True, help="the bank to write")
    # the model (memread train's defaults)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--slots", type=int, default=384)
    p.add_argument("--context", choices=("input", "hidden"), default="hidden")
    p.add_argument("--position", choices=("none", "learned"), default="learned")
    p.add_argument("--max-context", type=int, default=256)
    # the run
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=16, help="sequences per step, across every process")
    p.add_argument("--accumulate", type=int, default=1, help="micro-batches per process and step")
    p.add_argument("--sequence-tokens", type=int, default=0, help="positions per sequence (0: 4 × max-context)")
    p.add_argument("--paragraph-starts", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--final-lr-fraction", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--epsilon", type=float, default=1e-8)
    p.add_argument("--init-norm", type=float, default=2.8)
    p.add_argument("--value-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--average-last", type=int, default=0,
                   help="the bank holds the mean of the parameters after each of the last S steps (0: the last step's)")
    # checkpoints, evaluation, output
    p.add_argument("--checkpoint", default="", help="saved every --checkpoint-every steps and at the end; resumed from if it exists")
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--stop-after", type=int, default=0, help="save the checkpoint after this step and stop")
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--eval-tokens", type=int, default=65536)
    p.add_argument("--dtype", choices=("f32", "f16", "i8"), default="f32")
    p.add_argument("--name", default="")
    p.add_argument("--description", default="")
    # where it runs
    p.add_argument("--processes", type=int, default=1, help="processes started here (without torchrun)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda (each process takes cuda:LOCAL_RANK)")
    p.add_argument("--backend", default="", help="gloo or nccl (default: nccl on cuda, else gloo)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: cores ÷ processes)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print the training record as JSON at the end")
    o = p.parse_args(argv)
    if o.sequence_tokens == 0:
        o.sequence_tokens = 4 * o.max_context
    problems = [
        (min(o.dim, o.layers, o.slots, o.steps, o.batch, o.accumulate, o.processes) < 1,
         "--dim, --layers, --slots, --steps, --batch, --accumulate, --processes must be at least 1"),
        (o.max_context < 2, "--max-context must be at least 2"),
        (not (o.lr > 0 and o.init_norm > 0 and o.value_scale > 0), "--lr, --init-norm, --value-scale must be > 0"),
        (o.weight_decay < 0 or o.clip < 0, "--weight-decay and --clip must be ≥ 0"),
        (not 0 <= o.final_lr_fraction <= 1 or not 0 <= o.paragraph_starts <= 1,
         "--final-lr-fraction and --paragraph-starts must be in [0, 1]"),
        (not 0 <= o.dropout < 1, "--dropout must be in [0, 1)"),
        (o.stop_after and not o.checkpoint, "--stop-after needs --checkpoint FILE (to resume from)"),
        (not 0 <= o.average_last <= o.steps, "--average-last must be in [0, --steps]"),
    ]
    for bad, message in problems:
        if bad:
            p.error(message)
    return o


def options_record(o, vocab_size):
    """The options as the C++ trainer records them (trainer.cpp, options_to_json), and the split."""
    return {"dim": o.dim, "layers": o.layers, "slots": o.slots, "context": o.context, "position": o.position,
            "max_context": o.max_context, "vocab_size": vocab_size, "steps": o.steps, "batch_sequences": o.batch,
            "sequence_tokens": o.sequence_tokens, "paragraph_starts": o.paragraph_starts,
            "learning_rate": o.lr, "warmup_steps": o.warmup, "final_lr_fraction": o.final_lr_fraction,
            "weight_decay": o.weight_decay, "dropout": o.dropout, "average_last": o.average_last, "beta1": o.beta1,
            "beta2": o.beta2, "epsilon": o.epsilon, "gradient_clip": o.clip, "init_row_norm": o.init_norm,
            "init_value_scale": o.value_scale, "seed": o.seed, "accumulate": o.accumulate}


def learning_rate_at(o, step):
    """Linear warm-up to the peak, then cosine decay to final-lr-fraction of it (trainer.cpp)."""
    if step < o.warmup:
        return o.lr * (step + 1) / o.warmup
    decay_steps = o.steps - o.warmup if o.steps > o.warmup else 1
    progress = min(1.0, (step - o.warmup) / decay_steps)
    floor = o.final_lr_fraction
    return o.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


# ---- processes ----------------------------------------------------------------------------------

class World:
    """This process's place among those sharing the run: rank, size, device."""

    def __init__(self, rank=0, size=1, local_rank=0, device="cpu"):
        self.rank, self.size = rank, size
        self.device = torch.device(f"cuda:{local_rank}" if device == "cuda" else device)
        self.main = rank == 0

    def barrier(self):
        if self.size > 1:
            dist.barrier()


def start_world(o, rank=None, port=None):
    """torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) when it is set, else the
    processes this script spawned (rank given), else one process."""
    backend = o.backend or ("nccl" if o.device == "cuda" else "gloo")
    if rank is None and "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        dist.init_process_group(backend, init_method="env://", rank=rank, world_size=size)
    elif rank is not None:
        size, local = o.processes, rank
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    else:
        return World(device=o.device)
    if o.device == "cuda":
        torch.cuda.set_device(local)
    return World(rank, size, local, o.device)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- checkpoints --------------------------------------------------------------------------------

def save_checkpoint(path, model, optimizer, average, step, o, merges, clock):
    """Parameters, AdamW's moments, the step, the options, the merges and the run's clock, as one
    safetensors file (no pickle: a checkpoint loads without running code); written beside `path`
    and renamed, so that a crash mid-write never leaves a broken checkpoint."""
    tensors = {"tokenizer.merges": ("I32", merges)}
    adam_steps = set()
    for name, p in model.named_parameters():
        tensors[f"model.{name}"] = ("F32", p.detach().cpu().numpy())
        state = optimizer.state.get(p, {})
        if state:
            tensors[f"adam.m.{name}"] = ("F32", state["exp_avg"].cpu().numpy())
            tensors[f"adam.v.{name}"] = ("F32", state["exp_avg_sq"].cpu().numpy())
            adam_steps.add(int(state["step"]))
    for name, total in average.sums.items():
        tensors[f"average.{name}"] = ("F64", total.numpy())
    record = {"format": 1, "step": step, "adam_step": max(adam_steps, default=0), "averaged": average.count,
              "clock": clock, "options": vars(o)}
    write_file(path, serialize(tensors, {"memread_torch.checkpoint": json.dumps(record)}))


def restore_checkpoint(path, model, optimizer, average, o, merges):
    """(step, clock) of the checkpoint at `path`, its state loaded; refused when it is of another
    model or tokenizer, or when its average does not hold the steps this run's --average-last says
    it should by now (the C++ trainer's rule)."""
    with open(path, "rb") as f:
        try:
            tensors, metadata = parse(f.read())
            record = parse_json_object(metadata.get("memread_torch.checkpoint", "").encode(), "memread_torch.checkpoint")
        except FormatError as e:
            raise FormatError(f"checkpoint {path}: {e} (not a memread_torch checkpoint?)") from None
    saved = record.get("options", {})
    for key in MODEL_OPTIONS + ("seed", "batch", "sequence_tokens"):
        if saved.get(key) != getattr(o, key):
            raise FormatError(f"checkpoint {path}: it was made with --{key.replace('_', '-')} {saved.get(key)}, this run has {getattr(o, key)}")
    averaged = record.get("averaged", 0)
    if averaged != average.due(record["step"]):
        raise FormatError(f"checkpoint {path}: its average holds {averaged} steps after step {record['step']}, "
                          f"--average-last {o.average_last} needs {average.due(record['step'])}")
    if "tokenizer.merges" not in tensors or not np.array_equal(tensors["tokenizer.merges"].array(), merges):
        raise FormatError(f"checkpoint {path}: it was made with another tokenizer")
    with torch.no_grad():
        for name, p in model.named_parameters():
            for key in (f"model.{name}",) + ((f"adam.m.{name}", f"adam.v.{name}") if record["adam_step"] else ()):
                t = tensors.get(key)
                if t is None or t.dtype != "F32" or t.shape != tuple(p.shape):
                    raise FormatError(f"checkpoint {path}: tensor {key} missing or not F32 {list(p.shape)}")
            p.copy_(torch.from_numpy(tensors[f"model.{name}"].array()))
            if record["adam_step"]:
                optimizer.state[p] = {"step": torch.tensor(float(record["adam_step"])),
                                      "exp_avg": torch.from_numpy(tensors[f"adam.m.{name}"].array()).to(p.device),
                                      "exp_avg_sq": torch.from_numpy(tensors[f"adam.v.{name}"].array()).to(p.device)}
        for name, p in model.named_parameters() if averaged else ():
            t = tensors.get(f"average.{name}")
            if t is None or t.dtype != "F64" or t.shape != tuple(p.shape):
                raise FormatError(f"checkpoint {path}: tensor average.{name} missing or not F64 {list(p.shape)}")
            average.sums[name] = torch.from_numpy(t.array())
        average.count = averaged
    return record["step"], record["clock"]


# ---- the run ------------------------------------------------------------------------------------

class TailAverage:
    """The mean of the parameters after each of the last `span` of `steps` steps (--average-last),
    summed in double precision as the C++ trainer sums it."""

    def __init__(self, steps, span):
        self.steps, self.span, self.count, self.sums = steps, span, 0, {}

    def due(self, step):
        """How many steps the average holds after `step` steps."""
        return max(0, step - (self.steps - self.span)) if self.span else 0

    def add(self, model, step):
        if self.due(step) > self.count:
            for name, p in model.named_parameters():
                total = self.sums.setdefault(name, torch.zeros(p.shape, dtype=torch.float64))
                total += p.detach().cpu().double()
            self.count += 1

    def apply(self, model):
        """Sets the model's parameters to the mean (when there is one)."""
        if self.count:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_((self.sums[name] / self.count).float())

class Progress:
    """The progress line, on process 0 only: a bar on a terminal, a plain line now and then otherwise."""

    def __init__(self, steps, quiet):
        self.steps, self.quiet, self.terminal = steps, quiet, sys.stderr.isatty()

    def update(self, step, loss, bpb, validation, tokens_per_second, left):
        last = step == self.steps
        if self.quiet or (not self.terminal and step % max(1, self.steps // 50) and not last and step != 1):
            return
        bar = ("#" * int(24 * step / self.steps)).ljust(24, ".")
        val = f"  val {validation:.3f}" if validation else ""
        line = (f"[{bar}] step {step}/{self.steps}  loss {loss:.3f} ({bpb:.3f} bpb){val}  "
                f"{tokens_per_second:.0f} tok/s  {int(left) // 60}:{int(left) % 60:02d} left")
        sys.stderr.write(f"\r{line}\x1b[K" + ("\n" if last else "") if self.terminal else line + "\n")
        sys.stderr.flush()

    def message(self, text):
        if not self.quiet:
            sys.stderr.write(("\r\x1b[K" if self.terminal else "") + text + "\n")


def train_step(model, wrapped, optimizer, sequences, step, o, world, tokenizer):
    """One optimizer step over the global batch: this process's sequences (b ≡ rank mod size), in
    --accumulate micro-batches; the gradient is that of the batch's mean loss per predicted token.
    Returns (loss nats per token, bits per byte, gradient norm before clipping) of the whole batch."""
    mine = list(range(world.rank, o.batch, world.size))
    parts = [mine[i::o.accumulate] for i in range(o.accumulate)]
    predicted = o.batch * sequences.positions
    nats = torch.zeros(2, dtype=torch.float64)  # summed −ln p, and the predicted tokens' bytes
    optimizer.zero_grad(set_to_none=True)
    for i, part in enumerate(parts):
        tokens = sequences.batch_of(step, part).to(world.device)  # [b, P + 1]
        keep = sequences.dropout_keep(step, part, o.dropout, o.layers, o.dim)
        keep = keep.to(world.device) if keep is not None else None
        syncing = i == len(parts) - 1 or world.size == 1
        with (wrapped.no_sync() if not syncing else _nothing()):
            logits = wrapped(tokens[:, :-1], keep=keep)  # [b, P, vocab]
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), reduction="sum")
            # DDP averages the gradients of `size` processes: scale so that the sum is the mean
            (loss * (world.size / predicted)).backward()
        nats[0] += float(loss)
        nats[1] += float(torch.as_tensor(tokenizer.lengths)[tokens[:, 1:].cpu()].sum())
    if world.size > 1:
        dist.all_reduce(nats)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), o.clip if o.clip > 0 else float("inf"))
    for group in optimizer.param_groups:
        group["lr"] = learning_rate_at(o, step)
    optimizer.step()
    return float(nats[0]) / predicted, float(nats[0]) / math.log(2) / max(float(nats[1]), 1.0), float(norm)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def make_optimizer(model, o):
    """AdamW with decoupled weight decay on E, K and V only (the C++ trainer's)."""
    decayed = {id(p) for p in model.decayed_parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) in decayed], "weight_decay": o.weight_decay},
              {"params": [p for p in model.parameters() if id(p) not in decayed], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.epsilon)


def run(o, world):
    """The whole run on this process; returns the training record (process 0) or None."""
    torch.set_num_threads(o.threads or max(1, (os.cpu_count() or 1) // world.size))
    progress = Progress(o.steps, o.quiet or not world.main)
    # 1. the tokenizer and the tokens
    tokenizer = read_tokenizer(o.tokenizer)
    files = {}
    for part in ("train", "validation", "test"):
        path = os.path.join(o.tokens, f"{part}.tokens")
        if part != "test" or os.path.exists(path):
            files[part] = TokenFile(path, tokenizer)
    if len(files["train"].tokens) < 2 or len(files["validation"].tokens) < 2:
        raise FormatError("the training and validation texts need at least 2 tokens each")
    if o.batch % (world.size * o.accumulate):
        raise FormatError(f"--batch {o.batch} is not a multiple of processes × --accumulate ({world.size} × {o.accumulate})")
    sequences = Sequences(files["train"].tokens, tokenizer, o.sequence_tokens, o.batch, o.seed, o.paragraph_starts)
    progress.message(f"tokens: training {len(files['train'].tokens)}, validation {len(files['validation'].tokens)}; "
                     f"{world.size} process(es), {o.accumulate} micro-batch(es) each, {torch.get_num_threads()} thread(s)")
    # 2. the model, the same on every process (initialised from the seed), and its optimizer
    config = {"format_version": 1, "dim": o.dim, "layers": o.layers, "slots": o.slots,
              "vocab_size": tokenizer.vocab_size, "context": o.context, "position": o.position,
              "max_context": o.max_context, "window": "rolling"}
    model = MemRead(config).initialize(o.init_norm, o.value_scale, torch.Generator().manual_seed(o.seed))
    model.to(world.device)
    optimizer = make_optimizer(model, o)
    average = TailAverage(o.steps, o.average_last)
    step, clock = 0, {"seconds": 0.0, "tokens": 0}
    if o.checkpoint and os.path.exists(o.checkpoint):
        step, clock = restore_checkpoint(o.checkpoint, model, optimizer, average, o, tokenizer.merges)
        progress.message(f"resuming from {o.checkpoint} at step {step}")
    wrapped = torch.nn.parallel.DistributedDataParallel(model) if world.size > 1 else model
    # 3. the steps
    start, seen, first, validation = time.time(), 0, step, 0.0
    probe = files["validation"].tokens[:o.eval_tokens]
    while step < o.steps:
        loss, bpb, _ = train_step(model, wrapped, optimizer, sequences, step, o, world, tokenizer)
        step += 1
        average.add(model, step)
        seen += o.batch * sequences.positions
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss is not finite at step {step}: lower --lr or --init-norm")
        if o.eval_every and (step % o.eval_every == 0 or step == o.steps) and world.main:
            validation = stream_bits(model, probe, tokenizer.lengths, chunk=o.max_context)[0]
            progress.message(f"step {step}: training loss {bpb:.3f} bpb, validation (first {len(probe)} tokens) {validation:.4f} bpb")
        elapsed = time.time() - start
        now = {"seconds": clock["seconds"] + elapsed, "tokens": clock["tokens"] + seen}
        if o.checkpoint and world.main and (o.checkpoint_every and step % o.checkpoint_every == 0 or step == o.steps
                                            or step == o.stop_after):
            save_checkpoint(o.checkpoint, model, optimizer, average, step, o, tokenizer.merges, now)
        progress.update(step, loss, bpb, validation, seen / elapsed, elapsed / (step - first) * (o.steps - step))
        if o.stop_after and step >= o.stop_after and step < o.steps:
            progress.message(f"stopped after step {step} of {o.steps}: the same command without --stop-after resumes from {o.checkpoint}")
            world.barrier()
            return None
    clock = {"seconds": clock["seconds"] + time.time() - start, "tokens": clock["tokens"] + seen}
    world.barrier()
    if not world.main:
        return None
    # 4. the bank: the weights (the tail's mean, with --average-last) as the file stores them,
    #    scored on the held-out texts
    model.cpu()
    average.apply(model)
    if o.dtype in ("f16", "i8"):
        with torch.no_grad():
            for p in model.decayed_parameters():
                p.copy_(torch.from_numpy(round_to_f16(p.numpy()) if o.dtype == "f16" else round_to_i8(p.numpy())))
    scores = {part: stream_bits(model, files[part].tokens, tokenizer.lengths, chunk=o.max_context)
              for part in ("validation", "test") if part in files}
    record = training_record(o, files, tokenizer, scores, step, clock, world)
    bank = model.to_bank(tokenizer.merges, o.name, o.description, json.dumps(record, ensure_ascii=False))
    write_bank(bank, o.out, o.dtype)
    test = f"{scores['test'][0]:.4f}" if "test" in scores else "(none)"
    print(f"wrote {o.out} ({os.path.getsize(o.out)} bytes): validation {scores['validation'][0]:.4f} bpb, test {test} bpb; "
          f"{step} steps in {clock['seconds']:.0f} s, {record['training_tokens_per_second']} tokens/s")
    if o.json:
        print(json.dumps(record, ensure_ascii=False))
    return record


def training_record(o, files, tokenizer, scores, step, clock, world):
    """The bank's memread.training: the fields the C++ trainer writes, and which trainer this was."""
    record = {
        "corpus": f"the token files in {o.tokens} (memread tokens)",
        "split": "; ".join(f"{part}: {f.source}, {len(f.tokens)} tokens of {f.info.get('bytes', '?')} bytes"
                           for part, f in files.items()),
        "tokenizer": f"byte-level BPE, {len(tokenizer.merges)} merges from {o.tokenizer}",
        "trainer": f"PyTorch {torch.__version__} (python/memread_torch/train.py), {world.size} process(es) on {world.device.type}",
        "steps": step,
        "tokens_per_step": o.batch * o.sequence_tokens,
        "evaluation": "the held-out text read as one stream with the rolling window (DESIGN §6)",
        "validation_bits_per_byte": round(scores["validation"][0], 4),
    }
    if "test" in scores:
        record["test_bits_per_byte"] = round(scores["test"][0], 4)
    record["training_tokens_per_second"] = round(clock["tokens"] / clock["seconds"]) if clock["seconds"] > 0 else 0
    record["training_seconds"] = round(clock["seconds"])
    record["options"] = options_record(o, tokenizer.vocab_size)
    record["weights_dtype"] = o.dtype.upper()
    return record


def spawned(rank, o, port):
    world = start_world(o, rank, port)
    try:
        run(o, world)
    finally:
        dist.destroy_process_group()


def main(argv=None):
    o = parse_options(sys.argv[1:] if argv is None else argv)
    try:
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # under torchrun
            world = start_world(o)
            try:
                run(o, world)
            finally:
                dist.destroy_process_group()
        elif o.processes > 1:
            mp.spawn(spawned, args=(o, free_port()), nprocs=o.processes)
        else:
            run(o, World(device=o.device))
    except (FormatError, FloatingPointError, OSError) as e:
        sys.stderr.write(f"memread_torch.train: {e}\n")
        return 1
    except mp.ProcessRaisedException as e:
        last = str(e).strip().splitlines()[-1] if str(e).strip() else "a process failed"
        sys.stderr.write(f"memread_torch.train: {last}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
