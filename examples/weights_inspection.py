"""Inspect weights and runs: training runs, weights info, run lookup by path, sampler state.

``get_weights_info_by_tinker_path`` says what a checkpoint needs to be loaded
(base model, LoRA rank, which layers were trained): use it to validate a
checkpoint before restoring it. ``get_training_run_by_tinker_path`` finds the
run behind a path, with its latest checkpoints. ``get_sampler`` shows what a
sampler serves.

Knobs (environment): ``TINKER_CHECKPOINT_PATH`` (default: save a fresh one),
``TINKER_EXPECTED_RANK`` (default 8: the rank used when creating one here).

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/weights_inspection.py
"""

from __future__ import annotations

import os

import tinkex

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
EXPECTED_RANK = int(os.environ.get("TINKER_EXPECTED_RANK", "8"))


def main() -> None:
    with tinkex.ServiceClient() as service:
        rest = service.create_rest_client()
        tinker_path = os.environ.get("TINKER_CHECKPOINT_PATH")
        if not tinker_path:
            training = service.create_lora_training_client(
                base_model=BASE_MODEL, rank=EXPECTED_RANK, train_unembed=False)
            tinker_path = training.save_state("inspect-me").result().path
            sampler_path = training.save_weights_for_sampler("inspect-me-sampler").result().path
            sampler = service.create_sampling_client(model_path=sampler_path)
            state = rest.get_sampler(sampler.sampling_session_id).result()
            print(f"sampler {state.sampler_id}: base {state.base_model}, weights {state.model_path}")

        runs = rest.list_training_runs(limit=5).result()
        print(f"training runs: {runs.cursor.total_count} in total, first page:")
        for run in runs.training_runs:
            print(f"  {run.training_run_id}  {run.base_model}  rank={run.lora_rank}  "
                  f"corrupted={run.corrupted}")

        info = rest.get_weights_info_by_tinker_path(tinker_path).result()
        print(f"weights info for {tinker_path}:\n  base_model={info.base_model} "
              f"is_lora={info.is_lora} lora_rank={info.lora_rank} train_mlp={info.train_mlp} "
              f"train_attn={info.train_attn} train_unembed={info.train_unembed}")
        if info.lora_rank != EXPECTED_RANK:
            raise SystemExit(f"rank {info.lora_rank} != expected {EXPECTED_RANK}")
        print(f"  rank matches the expected {EXPECTED_RANK}")

        run = rest.get_training_run_by_tinker_path(tinker_path).result()
        last = run.last_checkpoint.tinker_path if run.last_checkpoint else None
        print(f"run {run.training_run_id}: owner {run.model_owner}, last checkpoint {last}, "
              f"last request {run.last_request_time.isoformat(timespec='seconds')}")

        link = rest.get_checkpoint_archive_url_from_tinker_path(tinker_path).result()
        print(f"archive URL expires {link.expires.isoformat(timespec='seconds')}")


if __name__ == "__main__":
    main()
