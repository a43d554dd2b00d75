"""An engine with the background parts its document declares, opened and closed together.

What a generated client package (``tinkex-codegen generate``) uses: futures are
polled when the document has ``x-tinkex-futures``, sequenced operations are
submitted in order, dispatch limits apply. Sessions and telemetry need request
bodies only an API's own domain layer knows, so they are left to it
(``tinkex.core.session``, ``tinkex.core.telemetry``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import futures, limits, sequencing
from .config import ClientConfig
from .engine import Engine, EngineHooks
from .lifecycle import ThreadOwner
from .model.operations import OperationTable


class Connection:
    """``Engine(table, ClientConfig.resolve(table, **config))`` plus its pollers; a context manager."""

    def __init__(self, table: OperationTable, models: ModuleType | None = None,
                 **config: Any) -> None:
        hooks = EngineHooks(future_resolver=futures.poller_for if table.futures else None,
                            sequencer=sequencing.sequencer_for, dispatcher=limits.dispatcher_for)
        self.engine = Engine(table, ClientConfig.resolve(table, **config), models_module=models,
                             hooks=hooks)
        self.owner = ThreadOwner(self.engine)
        if isinstance(self.engine.future_resolver, futures.FuturePoller):
            self.owner.own(self.engine.future_resolver)

    @property
    def closed(self) -> bool:
        return self.owner.closed

    def close(self) -> None:
        """Stop the poller threads, then close the connection pools (idempotent)."""
        self.owner.close()
        self.engine.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
