"""The base class of every wire type (set by ``base_class`` in pyproject's codegen table).

Validators and serializers are built on a type's first use rather than at
import: ``import tinkex`` defines about a hundred types, and a script uses a few.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A pydantic model whose schema is built when it is first validated or serialized."""

    model_config = ConfigDict(defer_build=True)

