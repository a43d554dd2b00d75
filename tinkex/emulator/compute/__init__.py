"""The work the emulator does: a small numpy language model and the threads that run it.

* :mod:`.model` is the model itself (transformer, LoRA, losses, AdamW, sampling);
* :mod:`.execution` runs accepted requests on a small thread pool, one ordered
  lane per model;
* :mod:`.live_models` keeps the training models and sampler weights in memory,
  rebuilt from state after a restart; :mod:`.catalog` names the base models
  served (presets and aliases);
* :mod:`.convert` turns wire types into arrays and results back, bounding what
  a client controls; :mod:`.sample_seeds` derives seeds for unseeded samples;
  :mod:`.tokenizer_files` writes the byte tokenizer's files.

It may import :mod:`tinkex.emulator.state` and the shared
:mod:`tinkex.emulator.errors` and :mod:`tinkex.emulator.config`, but nothing from
:mod:`tinkex.emulator.http` or :mod:`tinkex.emulator.run`
(``tests/emulator/test_layout.py``).
"""
