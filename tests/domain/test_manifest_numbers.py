"""The protocol's numbers and rules are the manifest's: a copy of the Tinker manifest with
other values makes the client (and the emulator) behave otherwise.

Each test compiles ``spec/tinker.yaml`` with a few values replaced, exactly as
``make regen`` compiles it, and reads the result through the same operation
table the client and the emulator build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinkex import chunking
from tinkex._spec import load_operation_table
from tinkex.codegen.build import compile_file
from tinkex.core.model.operations import OperationTable, load_table
from tinkex.types import Datum, ModelInput

ROOT = Path(__file__).resolve().parents[2]
CHUNKING = "chunking: {max_items: 1024, max_bytes: 5000000, bytes_per_token: 10, bytes_per_element: 10}"
# every value below differs from the Tinker manifest's
REPLACEMENTS = {
    CHUNKING: "chunking: {max_items: 3, max_bytes: 5000000, bytes_per_token: 100, "
              "bytes_per_element: 10}",
}


def variant_table(directory: Path, replacements: dict[str, str]) -> OperationTable:
    """The operation table of the Tinker manifest with each key of ``replacements`` replaced."""
    text = (ROOT / "spec" / "tinker.yaml").read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    manifest = directory / "tinker.yaml"
    manifest.write_text(text, encoding="utf-8")
    return load_table(compile_file(manifest)[1])


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> OperationTable:
    return variant_table(tmp_path_factory.mktemp("spec"), REPLACEMENTS)


def _datum(tokens: int) -> Datum:
    return Datum(model_input=ModelInput.from_ints(list(range(tokens))), loss_fn_inputs={})


def test_the_chunk_limits_are_the_documents(variant: OperationTable) -> None:
    data = [_datum(10) for _ in range(7)]
    packaged = chunking.chunk_limits("forward_backward", table=load_operation_table())
    assert (packaged.max_items, packaged.max_bytes) == (1024, 5_000_000)
    assert [len(c) for c in chunking.split_batch(data)] == [7]
    limits = chunking.chunk_limits("forward_backward", table=variant)
    assert [len(c) for c in chunking.split_batch(data, limits=limits)] == [3, 3, 1]
    assert chunking.estimate_datum_bytes(data[0], limits) == 1000  # 100 bytes a token
    assert chunking.estimate_datum_bytes(data[0]) == 100


def test_a_call_chunks_as_its_operations_say(variant: OperationTable) -> None:
    both = chunking.chunk_limits("forward", "forward_backward", table=variant)
    assert both.max_items == 3
    with pytest.raises(ValueError, match="no chunking"):
        chunking.chunk_limits("optim_step", table=variant)
