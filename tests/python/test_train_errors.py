"""Bad input to the PyTorch trainer: one line naming the problem, exit 1, and no bank written."""

import os
import shutil
import unittest

from support import TINY_MODEL, make_token_folder, memread, temporary_folder, train


class TrainErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = temporary_folder("memread-errors-")
        cls.tokenizer, cls.tokens, cls.validation = make_token_folder(cls.folder, train_characters=8000,
                                                                      validation_characters=1000)

    def refused(self, message, *options, tokenizer=None, tokens=None):
        out = os.path.join(self.folder, "never.safetensors")
        result = train(tokenizer or self.tokenizer, tokens or self.tokens, out, *TINY_MODEL, "--steps", "3", *options,
                       check=False)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(message, result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertFalse(os.path.exists(out))

    def test_tokens_of_another_tokenizer(self):
        other = os.path.join(self.folder, "other.safetensors")
        memread("merges", "--text", self.validation, "--vocab", "300", "--out", other)
        self.refused("its tokens were made with another tokenizer", tokenizer=other)

    def test_a_training_text_of_one_token(self):
        folder = os.path.join(self.folder, "short")
        os.makedirs(folder, exist_ok=True)
        one = os.path.join(folder, "one.txt")
        with open(one, "w") as f:
            f.write("a")
        memread("tokens", "--tokenizer", self.tokenizer, "--train-text", one, "--validation-text", self.validation,
                "--out", folder)
        self.refused("need at least 2 tokens each", tokens=folder)

    def test_a_missing_token_file(self):
        folder = os.path.join(self.folder, "partial")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(self.tokens, "train.tokens"), folder)
        self.refused("validation.tokens", tokens=folder)

    def test_a_bank_given_as_tokens(self):
        folder = os.path.join(self.folder, "bank-as-tokens")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(self.tokenizer, os.path.join(folder, "train.tokens"))
        shutil.copy(os.path.join(self.tokens, "validation.tokens"), folder)
        self.refused('tensor "tokens" missing', tokens=folder)

    def test_a_checkpoint_of_another_model(self):
        checkpoint = os.path.join(self.folder, "small.checkpoint")
        train(self.tokenizer, self.tokens, os.path.join(self.folder, "small.safetensors"), *TINY_MODEL, "--steps", "2",
              "--checkpoint", checkpoint)
        self.refused("it was made with --dim 16, this run has 32", "--dim", "32", "--checkpoint", checkpoint)

    def test_a_batch_the_processes_cannot_share(self):
        self.refused("--batch 4 is not a multiple of processes × --accumulate (1 × 3)", "--accumulate", "3")


if __name__ == "__main__":
    unittest.main()
