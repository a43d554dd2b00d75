"""Run tinker-cookbook training loops against a server and print their per-step metrics.

    python cookbook_flow.py sl,rl {tinker,tinkex} LOG_DIR

Each loop (``sl``, ``rl``, in the order given) logs into ``LOG_DIR/<loop>`` and
its metrics are printed as one ``METRICS <loop> <json>`` line.

Runs in the cookbook's venv (tinker-cookbook with ``--no-deps``, the official
SDK, torch). With ``tinkex`` the package ``tinker`` is an alias of ``tinkex``
(every ``tinker.*`` import resolves to the same ``tinkex.*`` module object);
tinkex itself comes from ``PYTHONPATH``. Nothing of the cookbook is edited.

Offline stand-ins: the tokenizer (the emulator's models read bytes, so a byte
tokenizer is registered with ``tokenizer_utils.register_tokenizer`` under the
model name, which the emulator aliases to its own model), and the cookbook's
price list, which it would download from the internet: it is marked as fetched
(and absent) before the loop starts, so cost tracking logs token counts only.

* ``sl``: ``recipes/sl_basic.py``'s configuration, with the cookbook's own
  ``example_data/conversations.jsonl`` and a few small steps, through
  ``supervised/train.py``.
* ``rl``: ``rl/train.py`` on a tiny synthetic environment: each prompt asks to
  continue a letter run, the reward counts matching letters.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MODEL = "Qwen/Qwen3-8B"
BOS, EOS = 256, 257


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``tinker`` and ``tinker.X`` are ``tinkex`` and ``tinkex.X`` (the same module objects)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name == "tinker" or name.startswith("tinker."):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec: Any) -> Any:
        return importlib.import_module("tinkex" + spec.name[len("tinker"):])

    def exec_module(self, module: Any) -> None:
        pass


class ByteTokenizer:
    """The emulator's vocabulary: UTF-8 bytes, then <bos> and <eos>."""

    bos_token_id, eos_token_id, pad_token_id = BOS, EOS, EOS
    bos_token, eos_token, pad_token = "<bos>", "<eos>", "<eos>"
    name_or_path = MODEL
    vocab_size = 258

    def encode(self, text: str, add_special_tokens: bool = True, **_: Any) -> list[int]:
        ids = list(text.encode("utf-8"))
        return [BOS, *ids] if add_special_tokens else ids

    def decode(self, ids: Sequence[int] | Any, skip_special_tokens: bool = False,
               **_: Any) -> str:
        values = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return bytes(i for i in values if i < 256).decode("utf-8", errors="replace")

    def __call__(self, text: str, **kwargs: Any) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text, **kwargs)}

    def get_vocab(self) -> dict[str, int]:
        return {chr(i): i for i in range(256)} | {"<bos>": BOS, "<eos>": EOS}

    def convert_ids_to_tokens(self, ids: Any) -> Any:
        return [self.decode([i]) for i in ids] if isinstance(ids, list) else self.decode([ids])


def _sl(base_url: str, log_dir: Path) -> None:
    import tinker_cookbook
    from tinker_cookbook.recipes import sl_basic
    from tinker_cookbook.supervised import train
    from tinker_cookbook.supervised.data import FromConversationFileBuilder
    from tinker_cookbook.supervised.types import ChatDatasetBuilderCommonConfig

    conversations = Path(tinker_cookbook.__file__).parent / "example_data" / "conversations.jsonl"
    common = ChatDatasetBuilderCommonConfig(model_name_for_tokenizer=MODEL,
                                            renderer_name="role_colon", max_length=96,
                                            batch_size=4)
    dataset = FromConversationFileBuilder(common_config=common, file_path=str(conversations))
    blueprint = sl_basic.build_config_blueprint(MODEL).apply({
        "log_path": str(log_dir), "base_url": base_url, "dataset_builder": dataset,
        "renderer_name": "role_colon", "lora_rank": 4, "learning_rate": 5e-3,
        "max_steps": 4, "eval_every": 0, "save_every": 0, "infrequent_eval_every": 0})
    asyncio.run(train.main(blueprint.make()))


def _rl(base_url: str, log_dir: Path) -> None:
    import rl_env
    from tinker_cookbook.rl import train

    config = train.Config(
        learning_rate=5e-3, dataset_builder=rl_env.LetterRunDatasetBuilder(),
        model_name=MODEL, renderer_name="role_colon", lora_rank=4, max_tokens=6,
        log_path=str(log_dir), base_url=base_url, eval_every=0, save_every=0,
        recipe_name="conformance")
    asyncio.run(train.main(config))


def main() -> None:
    modes, sdk, out = sys.argv[1].split(","), sys.argv[2], Path(sys.argv[3])
    if sdk == "tinkex":
        sys.meta_path.insert(0, _Alias())
    import tinker
    from tinker_cookbook import tokenizer_utils
    from tinker_cookbook.utils import cost_estimation

    tokenizer_utils.register_tokenizer(MODEL, ByteTokenizer)
    cost_estimation._pricing_fetched = True  # no download from the internet
    base_url = os.environ["TINKER_BASE_URL"]
    print("SDK", tinker.__name__, getattr(tinker, "__version__", "?"))
    for mode in modes:
        log_dir = out / mode
        {"sl": _sl, "rl": _rl}[mode](base_url, log_dir)
        rows = [json.loads(line) for line in (log_dir / "metrics.jsonl").read_text().splitlines()
                if line.strip()]
        print(f"METRICS {mode} " + json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
