"""kill -9 and restart mid-run: acknowledged steps are never dropped silently.

The first emulator holds every new future in a paused queue, so the steps the
client submits are acknowledged but have not run when the server is killed.
A second emulator on the same port and data directory takes over. The old
client must learn at once what happened: polls of the lost steps fail with a
"lost ... restarted" error, and its next step fails at once naming the lost
seq_ids (no 30 s gap timeout, no silent skip). The restarted server keeps
serving new work.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import tinkex
from tinkex import types
from tinkex.emulator.run.process import EmulatorProcess

MICRO = "tinkex/micro-lm"


def _datum() -> types.Datum:
    return types.Datum(model_input=types.ModelInput.from_ints([10, 11, 12, 13]),
                       loss_fn_inputs={"target_tokens": [11, 12, 13, 14],
                                       "weights": [1.0, 1.0, 1.0, 1.0]})


def test_kill_and_restart_mid_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = EmulatorProcess(data_dir, args=["--fault-pause", "paused_rate_limit:2",
                                            "--poll-hold", "1"])
    url = first.start()
    port = urlsplit(url).port
    second = EmulatorProcess(data_dir, args=["--port", str(port), "--poll-hold", "1"])
    client = tinkex.ServiceClient(base_url=url, api_key="tml-restart")
    try:
        training = client.create_lora_training_client(base_model=MICRO, rank=4)
        ran = training.forward_backward([_datum()], "cross_entropy")
        ran.result(timeout=60)  # seq_id 1 ran (after its pause) and is stored
        pending = [training.forward_backward([_datum()], "cross_entropy") for _ in range(3)]
        first.kill()  # seq_ids 2..4 were acknowledged, none has run (paused for 2 s)
        second.start()
        started = time.monotonic()
        for future in pending:
            with pytest.raises(tinkex.FutureExpiredError, match="restarted"):
                future.result(timeout=60)
        with pytest.raises(tinkex.RequestFailedError, match=r"seq_ids 2\.\.4") as info:
            training.forward_backward([_datum()], "cross_entropy").result(timeout=60)
        assert "restarted" in str(info.value)
        assert time.monotonic() - started < 15  # well under the 30 s gap timeout
        output = "".join(second.output)
        assert "never arrived; skipping" not in output
        resumed = client.create_lora_training_client(base_model=MICRO, rank=4)
        resumed.forward_backward([_datum()], "cross_entropy").result(timeout=60)
        resumed.optim_step(types.AdamParams(learning_rate=1e-3)).result(timeout=60)
    finally:
        client.close()
        first.stop()
        second.stop()
