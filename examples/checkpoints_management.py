"""Checkpoints: save, list (per run and across runs, paginated), TTL, publish, delete.

Saves two training checkpoints (one with a TTL) and one sampler checkpoint,
then manages them through the ``RestClient``: ``list_checkpoints(run_id)``,
``iter_user_checkpoints`` (pages fetched as needed), ``set_checkpoint_ttl_from_tinker_path``,
``publish``/``unpublish`` and ``delete_checkpoint_from_tinker_path``.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/checkpoints_management.py
"""

from __future__ import annotations

import os

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
DAY = 24 * 3600


def describe(checkpoint: types.Checkpoint) -> str:
    expires = checkpoint.expires_at.isoformat(timespec="seconds") if checkpoint.expires_at else "never"
    size = f"{checkpoint.size_bytes / 1024:.0f} KiB" if checkpoint.size_bytes else "?"
    return (f"{checkpoint.checkpoint_id:32} {checkpoint.checkpoint_type.value:8} {size:>8}  "
            f"public={checkpoint.public!s:5}  expires {expires}")


def main() -> None:
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=4)
        run_id = training.model_id
        # Submitted together; each returns a future of its tinker:// path.
        first = training.save_state("step-1")
        second = training.save_state("step-2", ttl_seconds=7 * DAY)
        sampler = training.save_weights_for_sampler("step-2-sampler")
        sampler_path = sampler.result().path
        paths = [first.result().path, second.result().path, sampler_path]
        print("saved:", *paths, sep="\n  ")

        rest = service.create_rest_client()
        listing = rest.list_checkpoints(run_id).result()
        print(f"run {run_id}: {len(listing.checkpoints)} checkpoints")
        for checkpoint in listing.checkpoints:
            print("  " + describe(checkpoint))

        # Across all runs, newest first, two per page (the iterator fetches pages on demand).
        mine = [c for c in rest.iter_user_checkpoints(page_size=2) if c.tinker_path in paths]
        print(f"user checkpoints of this run (paginated): {len(mine)}")

        step1 = paths[0]
        rest.set_checkpoint_ttl_from_tinker_path(step1, 3 * DAY).result()
        rest.publish_checkpoint_from_tinker_path(step1).result()
        after = {c.tinker_path: c for c in rest.list_checkpoints(run_id).result().checkpoints}
        print("after ttl + publish:\n  " + describe(after[step1]))
        if not (after[step1].public and after[step1].expires_at is not None):
            raise SystemExit("ttl or publish did not take effect")
        rest.unpublish_checkpoint_from_tinker_path(step1).result()
        rest.set_checkpoint_ttl_from_tinker_path(step1, None).result()  # keep it forever again

        rest.delete_checkpoint_from_tinker_path(paths[1]).result()
        left = [c.tinker_path for c in rest.list_checkpoints(run_id).result().checkpoints]
        print(f"deleted {paths[1]}; {len(left)} checkpoints left")
        if paths[1] in left:
            raise SystemExit("the deleted checkpoint is still listed")


if __name__ == "__main__":
    main()
