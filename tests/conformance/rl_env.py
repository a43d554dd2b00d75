"""A tiny synthetic RL environment for the cookbook's ``rl/train.py`` (used by cookbook_flow.py).

Each problem shows a run of one letter; a response earns the reward when it
contains a lowercase letter, which a small model's samples do about half the
time, so groups have mixed rewards and the policy gradient is not zero. Only
the cookbook's public environment classes are used.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import partial

import chz
from tinker_cookbook import renderers
from tinker_cookbook.rl.problem_env import ProblemEnv, ProblemGroupBuilder
from tinker_cookbook.rl.types import EnvGroupBuilder, RLDataset, RLDatasetBuilder
from tinker_cookbook.tokenizer_utils import get_tokenizer

LETTERS = "abcdefgh"


class LetterRunEnv(ProblemEnv):
    def __init__(self, renderer: renderers.Renderer, letter: str) -> None:
        super().__init__(renderer, format_coef=0.0, require_stop_sequence_for_format=False)
        self.letter = letter

    def get_question(self) -> str:
        return self.letter * 6

    def check_answer(self, sample_str: str) -> bool:
        return any(c in string.ascii_lowercase for c in sample_str)

    def check_format(self, sample_str: str) -> bool:
        return True

    def get_reference_answer(self) -> str:
        return self.letter * 6


class LetterRunDataset(RLDataset):
    def __init__(self, renderer: renderers.Renderer, batches: int, groups: int,
                 group_size: int) -> None:
        self.renderer, self.batches, self.groups, self.group_size = (renderer, batches, groups,
                                                                     group_size)

    def get_batch(self, index: int) -> Sequence[EnvGroupBuilder]:
        return [ProblemGroupBuilder(
            env_thunk=partial(LetterRunEnv, self.renderer,
                              LETTERS[(index * self.groups + g) % len(LETTERS)]),
            num_envs=self.group_size, dataset_name="letters") for g in range(self.groups)]

    def __len__(self) -> int:
        return self.batches


@chz.chz
class LetterRunDatasetBuilder(RLDatasetBuilder):
    model_name: str = "Qwen/Qwen3-8B"
    batches: int = 3
    groups: int = 2
    group_size: int = 4

    async def __call__(self) -> tuple[RLDataset, RLDataset | None]:
        renderer = renderers.get_renderer("role_colon", get_tokenizer(self.model_name))
        return LetterRunDataset(renderer, self.batches, self.groups, self.group_size), None
