"""``RestClient``: training runs, checkpoints, sessions and samplers.

Like the official SDK, every method returns an :class:`~tinkex.APIFuture`
(call ``.result()``); the request runs on the client's background threads.
``iter_*`` methods walk every page of a list and yield its items.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

from tinkex._context import ClientContext
from tinkex._generated_clients import RestClientOperations
from tinkex._sessionless import SessionlessClient
from tinkex._twins import awaiting
from tinkex.admin_client import AdminClient, AuditEvents
from tinkex.core.errors import (
    APIResponseValidationError,
    APIStatusError,
    ConfigError,
    InvalidArgumentError,
)
from tinkex.core.futures import APIFuture
from tinkex.core.options import NOT_GIVEN, NotGiven, given
from tinkex.core.transport import Response
from tinkex.paths import TinkerPath
from tinkex.types import (
    AuditLogResponse,
    BillingUsageResponse,
    Checkpoint,
    CheckpointArchiveUrlResponse,
    CurrentCheckpointStorageUsageResponse,
    ExternalWeightsUrlsResponse,
    SessionSearchRequest,
    SessionSearchResponse,
    TrainingRun,
    WeightsInfoResponse,
    WhoamiResponse,
)

T = TypeVar("T")
AccessScopeName = Literal["owned", "accessible"]
log = logging.getLogger("tinkex.rest")


ARCHIVE_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
ARCHIVE_URL_DEFAULT_TTL = timedelta(minutes=15)
"""Expiry of a redirected archive URL whose answer has no (valid) ``Expires`` header."""


def archive_url_from_redirect(response: Response,
                              now: datetime | None = None) -> CheckpointArchiveUrlResponse:
    """The archive URL of a redirect answer: ``Location``, expiring at ``Expires``."""
    headers: Mapping[str, str] = response.headers
    location = headers.get("Location")
    if not location:
        raise APIResponseValidationError(
            f"get_checkpoint_archive_url: HTTP {response.status} without a Location header",
            response=response, body=response.text)
    now = now or datetime.now(timezone.utc)
    expires = now + ARCHIVE_URL_DEFAULT_TTL
    raw = headers.get("Expires")
    if raw:
        try:
            expires = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            pass  # an unreadable date: keep the default, as the official client does
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
    return CheckpointArchiveUrlResponse(url=location, expires=expires)


def _checkpoint_parts(checkpoint_id: str) -> tuple[str, str]:
    kind, sep, name = checkpoint_id.partition("/")
    if not sep or not name:
        raise InvalidArgumentError(f"checkpoint id {checkpoint_id!r} must look like '<kind>/<name>', "
                         "e.g. 'weights/step-100'")
    TinkerPath.parse(f"tinker://run/{kind}/{name}")  # same rules for kind and name
    return kind, name


class RestClient(SessionlessClient, RestClientOperations):
    """REST resources of the Tinker API.

    The methods that only call one operation come from the manifest
    (:class:`~tinkex._generated_clients.RestClientOperations`); the ones here
    add behaviour (paths, redirects, polling, pages).

    Made by :meth:`ServiceClient.create_rest_client` (sharing its connection),
    or directly with ``RestClient(base_url=..., api_key=...)`` (no session; close
    it, or use it as a context manager).
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 _context: ClientContext | None = None) -> None:
        super().__init__(base_url, api_key, _context=_context)
        self._rest = self._ctx.api.rest

    # ---- training runs ------------------------------------------------------------------

    def get_training_run_by_tinker_path(self, tinker_path: str,
                                        access_scope: AccessScopeName = "owned"
                                        ) -> APIFuture[TrainingRun]:
        """The training run a ``tinker://`` checkpoint path belongs to."""
        run_id = TinkerPath.parse(tinker_path).training_run_id
        return self.get_training_run(run_id, access_scope)

    def iter_training_runs(self, page_size: int | NotGiven = NOT_GIVEN,
                           access_scope: AccessScopeName | NotGiven = NOT_GIVEN,
                           project_id: str | None = None) -> Iterator[TrainingRun]:
        """Every training run, fetching pages of ``page_size`` as needed.

        Not given, the page size and scope are the operation's defaults (the manifest's).
        """
        return self._rest.iter_list_training_runs(
            limit=page_size, access_scope=access_scope, project_id=project_id)

    # ---- checkpoints --------------------------------------------------------------------

    def iter_user_checkpoints(self, page_size: int | NotGiven = NOT_GIVEN
                              ) -> Iterator[Checkpoint]:
        """All your checkpoints, newest first, fetching pages (by default of the
        operation's default size) as needed."""
        return self._rest.iter_list_user_checkpoints(limit=page_size)

    def _by_id(self, fn: Callable[..., T], training_run_id: str, checkpoint_id: str,
               **kwargs: Any) -> APIFuture[T]:
        kind, name = _checkpoint_parts(checkpoint_id)
        return self._run(fn, training_run_id=training_run_id, checkpoint_kind=kind,
                         checkpoint_name=name, **kwargs)

    def _by_path(self, fn: Callable[..., T], tinker_path: str, **kwargs: Any) -> APIFuture[T]:
        path = TinkerPath.parse(tinker_path)
        return self._run(fn, training_run_id=path.training_run_id, checkpoint_kind=path.kind,
                         checkpoint_name=path.name, **kwargs)

    def _archive_url(self, **kwargs: Any) -> CheckpointArchiveUrlResponse:
        try:
            result: CheckpointArchiveUrlResponse = self._rest.get_checkpoint_archive_url(**kwargs)
            return result
        except APIStatusError as exc:
            # Servers of the SDK <= 0.22.1 era answer with the redirect itself.
            if exc.status_code in ARCHIVE_REDIRECT_STATUSES and exc.response is not None:
                return archive_url_from_redirect(exc.response)
            raise

    def get_checkpoint_archive_url(self, training_run_id: str, checkpoint_id: str
                                   ) -> APIFuture[CheckpointArchiveUrlResponse]:
        """A signed, expiring URL of a tar.gz of the checkpoint's files.

        The server answers JSON, or (older servers) a 302 whose ``Location`` is the
        URL and whose ``Expires`` (default: 15 minutes from now) is its expiry.
        """
        return self._by_id(self._archive_url, training_run_id, checkpoint_id)

    def get_checkpoint_archive_url_from_tinker_path(
            self, tinker_path: str) -> APIFuture[CheckpointArchiveUrlResponse]:
        """Like :meth:`get_checkpoint_archive_url`, addressed by ``tinker://`` path."""
        return self._by_path(self._archive_url, tinker_path)

    def delete_checkpoint(self, training_run_id: str, checkpoint_id: str) -> APIFuture[None]:
        """Delete a checkpoint (``checkpoint_id`` like ``weights/step-100``)."""
        return self._by_id(self._rest.delete_checkpoint, training_run_id, checkpoint_id)

    def delete_checkpoint_from_tinker_path(self, tinker_path: str) -> APIFuture[None]:
        """Delete the checkpoint at a ``tinker://`` path."""
        return self._by_path(self._rest.delete_checkpoint, tinker_path)

    def publish_checkpoint_from_tinker_path(self, tinker_path: str) -> APIFuture[None]:
        """Make a checkpoint public (others can load it; it stays yours)."""
        return self._by_path(self._rest.publish_checkpoint, tinker_path)

    def unpublish_checkpoint_from_tinker_path(self, tinker_path: str) -> APIFuture[None]:
        """Make a public checkpoint private again."""
        return self._by_path(self._rest.unpublish_checkpoint, tinker_path)

    def set_checkpoint_ttl_from_tinker_path(self, tinker_path: str, ttl_seconds: int | None
                                            ) -> APIFuture[None]:
        """Expire a checkpoint ``ttl_seconds`` from now (None: keep it forever)."""
        return self._by_path(self._rest.set_checkpoint_ttl, tinker_path, ttl_seconds=ttl_seconds)

    def get_external_weights_urls(self, tinker_path: str
                                  ) -> APIFuture[ExternalWeightsUrlsResponse]:
        """Signed download URLs of the files of an ``external_weights`` checkpoint."""
        return self._by_path(self._rest.get_external_weights_urls, tinker_path)

    def copy_weights(self, path: str, destination_project_id: str | None = None, *,
                     ttl_seconds: int | None = None, weights_access_token: str | None = None
                     ) -> APIFuture[str]:
        """Copy a checkpoint into a new, untrainable training run; the copy's ``tinker://`` path.

        The copy lands in ``destination_project_id`` (by default the client's
        project: ``TINKER_PROJECT_ID``) and shares storage with the source; it
        expires after ``ttl_seconds`` (the source's expiry is not inherited).
        ``weights_access_token`` opens another account's weights.
        """
        TinkerPath.parse(path)
        destination_project_id = destination_project_id or self._ctx.project_id
        if destination_project_id is None:
            raise InvalidArgumentError("copy_weights needs destination_project_id (or TINKER_PROJECT_ID)")
        copied = self._run(self._rest.copy_weights, source_path=path,
                           destination_project_id=destination_project_id,
                           ttl_seconds=given(ttl_seconds),
                           x_tinker_weights_access_token=weights_access_token)
        return copied.map(lambda response: str(response.tinker_path))

    def get_weights_info_by_tinker_path(self, tinker_path: str
                                        ) -> APIFuture[WeightsInfoResponse]:
        """Base model and LoRA settings of the weights at a ``tinker://`` path."""
        TinkerPath.parse(tinker_path)
        return self._run(self._rest.get_weights_info, tinker_path=tinker_path)

    # ---- sessions and samplers ----------------------------------------------------------

    def iter_sessions(self, page_size: int | NotGiven = NOT_GIVEN) -> Iterator[str]:
        """All your session ids, fetching pages as needed."""
        return self._rest.iter_list_sessions(limit=page_size)

    def search_sessions(self, request: SessionSearchRequest) -> APIFuture[SessionSearchResponse]:
        """One page of the sessions matching ``request``, newest first (``next_cursor`` continues)."""
        fields = request.model_dump(exclude_unset=True)
        return self._run(self._rest.search_sessions,
                         **{name: getattr(request, name) for name in fields})

    def export_session_trace(self, session_id: str) -> APIFuture[str]:
        """Export a session's requests as a Perfetto trace; a signed download URL of it.

        The server builds the trace (or reuses an up-to-date one); this waits
        for it, asking every few seconds without holding a thread meanwhile.
        The URL expires after about an hour.
        """
        future: APIFuture[str] = APIFuture()
        first = [True]
        interval = self._ctx.engine.table["export_session_trace"].poll_interval
        if interval is None:
            raise ConfigError("the API document gives export_session_trace no poll_interval")

        def ask() -> float | None:
            if future.done():
                return None
            try:
                state = self._rest.export_session_trace(session_id=session_id)
            except Exception as exc:
                future.settle(exc=exc)
                return None
            status = getattr(state.status, "value", state.status)
            if status == "ready" and state.url:
                future.settle(str(state.url))
                return None
            if status == "failed":
                future.settle(exc=RuntimeError(
                    f"the trace export of session {session_id} failed: {state.error}"))
                return None
            if first[0]:
                log.info("building the trace export of session %s (this may take a while)",
                         session_id)
                first[0] = False
            return interval

        self._ctx.offloader.pool.schedule(ask)
        return future

    # ---- identity -----------------------------------------------------------------------

    def whoami(self) -> APIFuture[WhoamiResponse]:
        """The calling principal (user URN, organization URN, email), read from the JWT the
        client holds when the server uses JWT auth."""
        return self._ctx.in_background(self._ctx.whoami)

    # ---- organization (the AdminClient's; kept here as in SDK 0.36 - 0.38) -------------

    def _admin(self) -> AdminClient:
        return AdminClient(_context=self._ctx)

    def get_audit_log(self, event_type: AuditEvents = "all", day: _dt.date | None = None
                      ) -> APIFuture[AuditLogResponse]:
        """See :meth:`AdminClient.get_audit_log`."""
        return self._admin().get_audit_log(event_type, day)

    def get_billing_usage(self, starting_on: _dt.datetime | str,
                          ending_before: _dt.datetime | str) -> APIFuture[BillingUsageResponse]:
        """See :meth:`AdminClient.get_billing_usage`."""
        return self._admin().get_billing_usage(starting_on, ending_before)

    def get_current_checkpoint_storage_usage(self, project_id: str | None = None
                                             ) -> APIFuture[CurrentCheckpointStorageUsageResponse]:
        """See :meth:`AdminClient.get_current_checkpoint_storage_usage`."""
        return self._admin().get_current_checkpoint_storage_usage(project_id)

    # ---- for coroutines (the methods only schedule work, so the twins await directly) ----

    get_training_run_by_tinker_path_async = awaiting(get_training_run_by_tinker_path, offload=False)
    get_checkpoint_archive_url_async = awaiting(get_checkpoint_archive_url, offload=False)
    get_checkpoint_archive_url_from_tinker_path_async = awaiting(get_checkpoint_archive_url_from_tinker_path, offload=False)
    delete_checkpoint_async = awaiting(delete_checkpoint, offload=False)
    delete_checkpoint_from_tinker_path_async = awaiting(delete_checkpoint_from_tinker_path, offload=False)
    publish_checkpoint_from_tinker_path_async = awaiting(publish_checkpoint_from_tinker_path, offload=False)
    unpublish_checkpoint_from_tinker_path_async = awaiting(unpublish_checkpoint_from_tinker_path, offload=False)
    set_checkpoint_ttl_from_tinker_path_async = awaiting(set_checkpoint_ttl_from_tinker_path, offload=False)
    get_weights_info_by_tinker_path_async = awaiting(get_weights_info_by_tinker_path, offload=False)
    get_external_weights_urls_async = awaiting(get_external_weights_urls, offload=False)
    copy_weights_async = awaiting(copy_weights, offload=False)
    export_session_trace_async = awaiting(export_session_trace, offload=False)
    get_audit_log_async = awaiting(get_audit_log, offload=False)
    get_billing_usage_async = awaiting(get_billing_usage, offload=False)
    get_current_checkpoint_storage_usage_async = awaiting(
        get_current_checkpoint_storage_usage, offload=False)
    whoami_async = awaiting(whoami, offload=False)


__all__ = ["RestClient"]
