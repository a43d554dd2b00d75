"""Download a checkpoint: signed archive URL, streamed download with progress, safe extraction.

``tinkex.checkpoints.download`` asks the REST client for the checkpoint's
archive URL, streams the tar.gz to disk in constant memory (progress bar on
stderr), checks every member (no absolute paths, no ``..``, no escaping links)
and moves the extracted directory into place only when all went well.

Uses ``TINKER_CHECKPOINT_PATH`` if set, else trains briefly and saves one.
Extracts under ``TINKER_OUTPUT_DIR`` (default: a temporary directory that is
removed at the end); ``FORCE=1`` replaces an existing download.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/checkpoint_download.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tinkex
from tinkex import checkpoints, types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")


def create_checkpoint(service: tinkex.ServiceClient) -> str:
    """Train one step and save the weights for sampling; return the checkpoint's tinker:// path."""
    training = service.create_lora_training_client(base_model=BASE_MODEL, rank=4)
    datum = types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3, 4]),
        loss_fn_inputs={"target_tokens": types.TensorData.from_list([2, 3, 4, 5], "int64"),
                        "weights": types.TensorData.from_list([1.0, 1.0, 1.0, 1.0], "float32")})
    training.forward_backward([datum], "cross_entropy")
    training.optim_step(types.AdamParams(learning_rate=1e-3))
    saved = training.save_weights_for_sampler("download-me").result()  # runs after both above
    return saved.path


def download(rest: tinkex.RestClient, tinker_path: str, output_dir: Path) -> None:
    force = os.environ.get("FORCE", "0") == "1"
    destination = checkpoints.download(rest, tinker_path, output_dir, force=force, progress=True)
    files = sorted(p for p in destination.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"downloaded {tinker_path}\n  -> {destination} ({len(files)} files, {total} bytes)")
    for path in files:
        print(f"     {path.relative_to(destination)}  {path.stat().st_size} bytes")


def main() -> None:
    with tinkex.ServiceClient() as service:
        tinker_path = os.environ.get("TINKER_CHECKPOINT_PATH") or create_checkpoint(service)
        rest = service.create_rest_client()
        link = rest.get_checkpoint_archive_url_from_tinker_path(tinker_path).result()
        print(f"archive URL valid until {link.expires.isoformat(timespec='seconds')}")

        output_dir = os.environ.get("TINKER_OUTPUT_DIR")
        if output_dir:
            download(rest, tinker_path, Path(output_dir))
        else:
            with tempfile.TemporaryDirectory(prefix="tinkex-download-") as tmp:
                download(rest, tinker_path, Path(tmp))
            print("cleaned up the temporary directory")


if __name__ == "__main__":
    main()
