"""Wire types of the Tinker API, with the official SDK's names.

The classes are generated from ``spec/tinker.yaml`` (``make regen``) into
``_generated.py``; helpers such as ``ModelInput.from_ints`` and
``TensorData.from_numpy`` come from ``_mixins.py`` by inheritance.
"""

from ._generated import *  # noqa: F403
from ._mixins import LOSS_INPUT_DTYPES as LOSS_INPUT_DTYPES
from .identity import WhoamiResponse as WhoamiResponse
