"""Tokenizer files for the byte models, so ``transformers`` loads them with no network.

The emulator writes the byte tokenizer (:func:`tinkex.tokenizers.byte_tokenizer_files`)
into ``<data-dir>/tokenizer`` and reports that directory as every model's
``tokenizer_id``: the official SDK's ``TrainingClient.get_tokenizer()`` hands it to
``AutoTokenizer.from_pretrained``, which reads a directory without the hub. The
official ``SamplingClient.get_tokenizer()`` only knows the base model's name, so
the files are also placed in the local Hugging Face hub cache under each byte
model's own name (``tinkex/tiny-lm``), as a download would have left them; a
repository there that this emulator did not write is never touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from tinkex.tokenizers import byte_tokenizer_files, is_byte_tokenizer_dir

log = logging.getLogger("tinkex.emulator")


def _write(directory: Path, files: Mapping[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = directory / name
        if target.exists() and target.read_text(encoding="utf-8") == content:
            continue
        # A name of our own: another emulator may be writing the same file right now.
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, target)


def write_tokenizer_dir(directory: Path) -> Path:
    _write(directory, byte_tokenizer_files())
    return directory


def hub_cache(environ: Mapping[str, str]) -> Path:
    """Where ``huggingface_hub`` keeps downloads (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/...)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(name):
            return Path(environ[name])
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def install_in_hub_cache(cache: Path, repo_ids: Iterable[str]) -> list[str]:
    """Put the byte tokenizer in ``cache`` under each repo id; returns those installed."""
    files = byte_tokenizer_files()
    revision = hashlib.sha1("".join(files[k] for k in sorted(files)).encode()).hexdigest()
    done = []
    for repo_id in repo_ids:
        repo = cache / ("models--" + repo_id.replace("/", "--"))
        ref = repo / "refs" / "main"
        try:
            if ref.exists():
                current = repo / "snapshots" / ref.read_text().strip()
                if not is_byte_tokenizer_dir(current):
                    log.info("not installing a tokenizer for %s: %s holds another", repo_id, repo)
                    continue
            _write(repo / "snapshots" / revision, files)
            ref.parent.mkdir(parents=True, exist_ok=True)
            ref.write_text(revision)
            done.append(repo_id)
        except OSError as e:
            log.warning("could not install the %s tokenizer in %s: %s", repo_id, cache, e)
    return done
