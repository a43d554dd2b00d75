"""What the emulator keeps: durable rows and files, and the requests it has accepted.

* :mod:`.store` is the SQLite database of sessions, runs, checkpoints and
  samplers (with their owners), :mod:`.weights` the safetensors files they name;
* :mod:`.ledger` records what happened (usage, storage, audit, request times),
  :mod:`.billing` computes usage and cost views from it, :mod:`.history` logs
  each training step and recent samples for the console;
* :mod:`.requests` holds each accepted request's record until its result is
  fetched (what ``retrieve_future`` looks up, and what long polls wait on), and
  :mod:`.completions` the session-level completion queues of ``retrieve_futures``.

It imports only the shared :mod:`tinkex.emulator.errors` and
:mod:`tinkex.emulator.config` and tinkex's own value modules: nothing from
:mod:`tinkex.emulator.http`, :mod:`tinkex.emulator.compute` or
:mod:`tinkex.emulator.run` (``tests/emulator/test_layout.py``).
"""
