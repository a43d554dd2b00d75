"""The emulator's language model: a small byte-level transformer in pure numpy.

Real forward/backward passes, LoRA adapters, AdamW, Tinker's loss functions and
sampling, exposed through :class:`TrainableModel` (see :mod:`.trainable`).  The HTTP
emulator owns request parsing, storage and concurrency; this package is only the math.

Module map: :mod:`.config` (vocabulary, presets, ``LoraConfig``), :mod:`.transformer`
(forward/backward), :mod:`.lora`, :mod:`.optim` (AdamW), :mod:`.losses`,
:mod:`.sampling`, :mod:`.trainable`.
"""

from .config import (
    BOS_ID,
    DEFAULT_LORA_ALPHA,
    EOS_ID,
    IMAGE_PLACEHOLDER,
    PRESETS,
    VOCAB_SIZE,
    LoraConfig,
    ModelConfig,
    decode,
    encode,
    get_config,
)
from .losses import LOSSES
from .optim import AdamParams, AdamW
from .sampling import SampledSequence, SampleResult, sample
from .trainable import (
    Datum,
    TrainableModel,
    get_base_weights,
    lora_config_from_state_dict,
)
from .transformer import build_base_weights, count_params

#: Names of the supported loss functions.
LOSS_FUNCTIONS = tuple(sorted(LOSSES))

__all__ = [
    "BOS_ID",
    "DEFAULT_LORA_ALPHA",
    "EOS_ID",
    "IMAGE_PLACEHOLDER",
    "LOSS_FUNCTIONS",
    "PRESETS",
    "VOCAB_SIZE",
    "AdamParams",
    "AdamW",
    "Datum",
    "LoraConfig",
    "ModelConfig",
    "SampleResult",
    "SampledSequence",
    "TrainableModel",
    "build_base_weights",
    "count_params",
    "decode",
    "encode",
    "get_base_weights",
    "get_config",
    "lora_config_from_state_dict",
    "sample",
]
