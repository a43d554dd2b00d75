"""Billing views computed from the ledger: hourly usage events and current storage.

Token usage is summed per UTC hour, base model, session and kind; storage per
hour is the bytes kept during that hour (GB-hours, 1 GB = 1e9 bytes) from each
checkpoint's storage interval. Estimated costs use the emulator's price table
(``--prices``): tokens at USD per million, storage at USD per GB-month of 720
GB-hours. Checkpoint operations are counted but not priced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from tinkex import types as T
from tinkex.emulator.config import Prices

from .ledger import Ledger

HOUR = 3600.0
GB = 1e9
HOURS_PER_MONTH = 720.0


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _token_rate(prices: Prices, kind: str, cached: bool) -> float | None:
    if kind == "sampling_prefill":
        return prices.sampling_prefill_cached if cached else prices.sampling_prefill
    return {"training": prices.training, "sampling_sample": prices.sampling_sample}.get(kind)


def _info(kind: str, cached: bool, quantity: float) -> Any:
    if kind == "training":
        return T.TrainingBillingEvent(type="training", token_count=int(quantity))
    if kind == "sampling_prefill":
        return T.SamplingPrefillBillingEvent(type="sampling_prefill", cached=cached,
                                             token_count=int(quantity))
    if kind == "sampling_sample":
        return T.SamplingSampleBillingEvent(type="sampling_sample", token_count=int(quantity))
    return T.CheckpointBillingEvent(type="checkpoint", count=int(quantity))


def usage_events(ledger: Ledger, owner: str, start: float, stop: float, prices: Prices,
                 describe: Callable[[str | None], tuple[str | None, str | None, Any]],
                 user_urn: str, user_name: str) -> T.BillingUsageResponse:
    """Hourly events in ``[start, stop)``; ``describe(session_id)`` -> (owner, project, metadata)."""
    buckets: dict[tuple[float, str | None, str | None, str, bool], float] = defaultdict(float)
    for row in ledger.usage(owner, start, stop):
        hour = row.at - row.at % HOUR
        buckets[(hour, row.base_model, row.session_id, row.kind, row.cached)] += row.quantity
    storage: dict[tuple[float, str | None], float] = defaultdict(float)
    for kept in ledger.storage(owner, start, stop):
        hour = max(start, kept.start - kept.start % HOUR)
        end = min(stop, kept.stop if kept.stop is not None else stop)
        while hour < end:
            overlap = min(end, hour + HOUR) - max(hour, kept.start)
            if overlap > 0:
                storage[(hour, kept.base_model)] += kept.size_bytes / GB * overlap / HOUR
            hour += HOUR
    data: list[tuple[float, float, T.BillingUsageEvent]] = []
    sessions: dict[str, T.BillingUsageSession] = {}
    for (hour, model, session_id, kind, cached), quantity in buckets.items():
        rate = _token_rate(prices, kind, cached)
        _, project, metadata = describe(session_id)
        if session_id is not None:
            sessions[session_id] = T.BillingUsageSession(user_metadata=metadata)
        data.append((hour, -quantity, T.BillingUsageEvent(
            bucket_start=_utc(hour), bucket_end=_utc(hour + HOUR), base_model=model,
            user_id=user_urn, user_name=user_name, session_id=session_id, project_id=project,
            effective_rate_usd_per_million_tokens=rate,
            estimated_cost_usd=None if rate is None else rate * quantity / 1e6,
            event_info=_info(kind, cached, quantity))))
    for (hour, model), gb_hours in storage.items():
        rate = prices.storage_gb_month
        data.append((hour, -gb_hours, T.BillingUsageEvent(
            bucket_start=_utc(hour), bucket_end=_utc(hour + HOUR), base_model=model,
            user_id=user_urn, user_name=user_name, effective_rate_usd_per_gigabyte_month=rate,
            estimated_cost_usd=rate * gb_hours / HOURS_PER_MONTH,
            event_info=T.StorageBillingEvent(type="storage", free=False,
                                             gigabyte_hours=gb_hours))))
    data.sort(key=lambda item: (item[0], item[1]))
    return T.BillingUsageResponse(data=[event for _, _, event in data], sessions=sessions,
                                  cost_data_through=None)
