"""The PyTorch trainer's runs are the same however they are split: two processes under
DistributedDataParallel (gloo), started by the script or by torchrun's environment, one process,
micro-batches, or a run stopped and resumed (inside the tail average of --average-last).

Every draw (the sequences of a step, their dropout masks) is a function of (seed, step, sequence)
alone, so two processes see the same sequences as one; they add the gradients in another order, so
their parameters agree to float tolerance (1e-5 absolute after 20 steps of AdamW, whose update
m/√v amplifies rounding in near-zero gradients), while a resumed run equals the uninterrupted one
bit for bit."""

import os
import socket
import subprocess
import sys
import unittest

import numpy as np

from support import ROOT, TINY_MODEL, make_token_folder, temporary_folder, train

from memread_torch import read_bank

RUN = TINY_MODEL + ["--steps", "20", "--dropout", "0.1", "--paragraph-starts", "0.5"]


def arrays(path):
    bank = read_bank(path)
    out = {"embed": bank.embed, "readout": np.array([bank.readout_temp])}
    for l in range(bank.config["layers"]):
        for name in ("keys", "values", "temps", "position"):
            out[f"{l}.{name}"] = getattr(bank, name)[l]
    return out


class DistributedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = temporary_folder("memread-ddp-")
        cls.tokenizer, cls.tokens, _ = make_token_folder(cls.folder, train_characters=20000, validation_characters=2000)

    def run_bank(self, name, *options):
        out = os.path.join(self.folder, name)
        train(self.tokenizer, self.tokens, out, *RUN, *options)
        return arrays(out)

    def assert_close(self, a, b, tolerance, what):
        for name in a:
            worst = np.abs(a[name] - b[name]).max(initial=0.0)
            self.assertLessEqual(worst, tolerance, f"{what}: {name} differs by {worst:.3g}")

    def two_processes(self):
        """The bank of --processes 2 (made once)."""
        if not hasattr(DistributedTest, "_two"):
            DistributedTest._two = self.run_bank("two.safetensors", "--processes", "2")
        return DistributedTest._two

    def test_two_processes_give_the_parameters_of_one_with_the_same_global_batch(self):
        one = self.one_process()
        two = self.two_processes()
        moved = np.abs(one["embed"] - arrays_initial(self)).max()
        self.assertGreater(moved, 1e-2, "the run trained")
        self.assert_close(one, two, 1e-5, "2 processes against 1")

    def test_torchrun_environment_runs_as_the_processes_it_names(self):
        # What torchrun gives each process (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
        # set by hand: Debian 12's torchrun itself fails at start (docs/training.md)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        out = os.path.join(self.folder, "torchrun.safetensors")
        argv = [sys.executable, "-m", "memread_torch.train", "--tokenizer", self.tokenizer, "--tokens", self.tokens,
                "--out", out, *RUN]
        ranks = [subprocess.Popen(argv, cwd=os.path.join(ROOT, "python"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=dict(os.environ, RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r),
                                           MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)))
                 for r in range(2)]
        for r, process in enumerate(ranks):
            _, stderr = process.communicate(timeout=300)
            self.assertEqual(process.returncode, 0, f"rank {r}: {stderr.decode()}")
        self.assert_close(arrays(out), self.two_processes(), 0.0, "torchrun's environment against --processes 2")

    def test_micro_batches_give_the_parameters_of_one_batch(self):
        self.assert_close(self.run_bank("whole.safetensors"), self.run_bank("parts.safetensors", "--accumulate", "2"),
                          1e-5, "--accumulate 2 against 1")

    def one_process(self):
        """The bank of one process (made once)."""
        if not hasattr(DistributedTest, "_one"):
            DistributedTest._one = self.run_bank("one.safetensors")
        return DistributedTest._one

    def test_a_resumed_run_equals_an_uninterrupted_one(self):
        # stopped inside the tail average (steps 15 … 20), so the checkpoint carries a partial sum
        averaged = RUN + ["--average-last", "6"]
        checkpoint = os.path.join(self.folder, "resume.checkpoint")
        out = os.path.join(self.folder, "resumed.safetensors")
        train(self.tokenizer, self.tokens, out, *averaged, "--checkpoint", checkpoint, "--stop-after", "17")
        self.assertFalse(os.path.exists(out), "a stopped run writes no bank")
        self.assertTrue(os.path.exists(checkpoint))
        resumed = train(self.tokenizer, self.tokens, out, *averaged, "--checkpoint", checkpoint)
        self.assertEqual(resumed.returncode, 0)
        uninterrupted = os.path.join(self.folder, "straight.safetensors")
        train(self.tokenizer, self.tokens, uninterrupted, *averaged)
        self.assert_close(arrays(out), arrays(uninterrupted), 0.0, "resumed against uninterrupted")
        moved = np.abs(arrays(uninterrupted)["embed"] - self.one_process()["embed"]).max()
        self.assertGreater(moved, 1e-5, "--average-last 6 gives the bank the mean of the last 6 steps, not the last")

    def test_a_checkpoint_whose_average_is_not_what_the_options_say_is_refused(self):
        checkpoint = os.path.join(self.folder, "average.checkpoint")
        out = os.path.join(self.folder, "average.safetensors")
        train(self.tokenizer, self.tokens, out, *RUN, "--checkpoint", checkpoint, "--stop-after", "17")
        result = train(self.tokenizer, self.tokens, out, *RUN, "--average-last", "6", "--checkpoint", checkpoint,
                       check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("its average holds 0 steps after step 17, --average-last 6 needs 3", result.stderr)
        self.assertFalse(os.path.exists(out))

def arrays_initial(test):
    """E of a run of one step at a learning rate too small to move it: the initial parameters."""
    out = os.path.join(test.folder, "initial.safetensors")
    train(test.tokenizer, test.tokens, out, *TINY_MODEL, "--steps", "1", "--lr", "1e-30")
    return read_bank(out).embed


if __name__ == "__main__":
    unittest.main()
