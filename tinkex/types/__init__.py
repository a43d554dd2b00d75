"""Wire types of the Tinker API, with the official SDK's names.

The classes are generated from ``spec/tinker.yaml`` (``make regen``) into
``_generated.py``; helpers such as ``ModelInput.from_ints`` and
``TensorData.from_numpy`` come from ``_mixins.py`` by inheritance. ``_compat.py``
adds the official SDK's aliases and small models that are not wire types here,
the official module paths (``tinkex.types.tensor_data``, ...) resolve too, and
the types SDK 0.38 defines as dataclasses work with ``dataclasses.replace``.
"""

import sys as _sys

from tinkex.core import errors as _errors

from . import _generated as _generated_module
from ._compat import *  # noqa: F403
from ._dataclasses import install as _dataclasses
from ._generated import *  # noqa: F403
from ._mixins import LOSS_INPUT_DTYPES as LOSS_INPUT_DTYPES
from ._mixins import use_generated as _use_generated
from ._modules import install as _modules
from ._views import TopkLogprobs as TopkLogprobs
from .identity import WhoamiResponse as WhoamiResponse

# The category of a failed request, with the official spellings (User, Server, Unknown) too.
RequestErrorCategory = _errors.RequestErrorCategory  # type: ignore[assignment, misc]

_use_generated(_generated_module)
_dataclasses(globals())
_modules(_sys.modules[__name__], globals())
