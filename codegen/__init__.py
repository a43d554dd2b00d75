"""Generic manifest compiler: manifest -> OpenAPI 3.1 + x-tinkex-* -> pydantic models -> stubs."""
