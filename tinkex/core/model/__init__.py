"""The one model of a compiled API document (botocore's ``model.py`` is the anchor).

The document (OpenAPI 3.1 plus ``x-tinkex-*`` keys) is read here once:

* :mod:`.document` loads it, checks every extension value against its JSON
  Schema and every name it refers to, and reads the root sections into values;
* :mod:`.operations` turns each operation into an immutable :class:`Operation`
  (parameters, policies, future/sequence/pagination semantics, SDK name);
* :mod:`.naming` holds the rules for Python names of wire names and schemas;
* :mod:`.signatures` describes the low-level API's classes and method
  signatures, which the runtime builds and the stub generator writes.

Codegen, the core, the stubs and the emulator all read this package, so no rule
is written twice. It imports no HTTP library: only the core's value modules.
"""

from .document import HTTP_METHODS, SCHEMA_PREFIX, iter_operations, load_document
from .operations import Operation, OperationTable, Param, build_table, load_table

__all__ = ["HTTP_METHODS", "SCHEMA_PREFIX", "Operation", "OperationTable", "Param",
           "build_table", "iter_operations", "load_document", "load_table"]
