"""Live models: training models by model id and frozen sampler weights by sampler id.

Both are caches over what the database and weight files hold, which is what
lets a restarted emulator pick up where it left off: a training model unknown
in memory is rebuilt from its run's LoRA settings and newest training
checkpoint; sampler weights are rebuilt from their file. Calls that build or
touch a training model run on the compute threads, inside that model's lane.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from tinkex.emulator.errors import UserError
from tinkex.emulator.state.store import Run, Sampler, Store
from tinkex.emulator.state.weights import WeightFiles

from .catalog import Catalog
from .model import LoraConfig, ModelConfig, TrainableModel, get_base_weights, get_config

_SAMPLER_CACHE = 16


def lora_config(lora: dict[str, Any]) -> LoraConfig:
    return LoraConfig(rank=int(lora["rank"]), seed=lora.get("seed"),
                      train_mlp=bool(lora["train_mlp"]), train_attn=bool(lora["train_attn"]),
                      train_unembed=bool(lora["train_unembed"]))


class Models:
    def __init__(self, store: Store, files: WeightFiles, catalog: Catalog):
        self.store = store
        self.files = files
        self.catalog = catalog
        self._lock = threading.Lock()
        self._live: dict[str, TrainableModel] = {}
        self._samplers: OrderedDict[str, tuple[ModelConfig, dict[str, Any]]] = OrderedDict()

    def _preset(self, base_model: str) -> str:
        preset = self.catalog.lookup(base_model)
        if preset is None:
            raise UserError(f"base model {base_model!r} is no longer served by this emulator")
        return preset

    def create(self, run: Run, state: dict[str, Any] | None = None,
               load_optimizer: bool = False) -> TrainableModel:
        """A new model for ``run``, optionally loaded from a saved state."""
        model = TrainableModel(self._preset(run.base_model), lora_config(run.lora))
        if state is not None:
            model.load_state_dict(state, load_optimizer=load_optimizer)
        with self._lock:
            self._live[run.run_id] = model
        return model

    def get(self, run_id: str) -> TrainableModel:
        """The live model, rebuilt from storage if this process has not seen it yet."""
        with self._lock:
            model = self._live.get(run_id)
        if model is not None:
            return model
        run = self.store.run(run_id)
        if run is None:
            raise UserError(f"model {run_id!r} does not exist")
        latest = self.store.latest_checkpoint(run_id, "weights")
        state = None if latest is None else self.files.load(latest.storage_key)
        return self.create(run, state, load_optimizer=True)

    def drop(self, run_id: str) -> None:
        with self._lock:
            self._live.pop(run_id, None)

    def sampler_weights(self, sampler: Sampler) -> tuple[ModelConfig, dict[str, Any]]:
        """Frozen weights of a sampler: the base model's, or a saved adapter folded in."""
        with self._lock:
            cached = self._samplers.get(sampler.sampler_id)
            if cached is not None:
                self._samplers.move_to_end(sampler.sampler_id)
                return cached
        preset = self._preset(sampler.base_model)
        if sampler.weights_key is None:
            weights = get_base_weights(preset)
        else:
            path = self.files.path(sampler.weights_key)
            if not path.exists():
                raise UserError(f"the weights of sampler {sampler.sampler_id!r} were deleted")
            state = self.files.load(sampler.weights_key)
            weights = TrainableModel.from_state_dict(preset, state,
                                                     load_optimizer=False).merged_weights()
        entry = (get_config(preset), weights)
        with self._lock:
            self._samplers[sampler.sampler_id] = entry
            while len(self._samplers) > _SAMPLER_CACHE:
                self._samplers.popitem(last=False)
        return entry
