"""Client configuration: constructor arguments > environment > document defaults.

The document names everything environment-dependent (``x-tinkex-api.env`` for
settings such as the base URL, ``x-tinkex-auth`` for the key's variable, its
required prefix and extra headers), so this module knows no API. The resolved
configuration is immutable and never shows a secret in its repr or its errors.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from .errors import ConfigError
from .model.operations import OperationTable
from .redact import Redactor, Secret
from .security import SecurityScheme
from .transport import Timeout

ALWAYS_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie")


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """Everything a client needs to talk to the API; build it with :meth:`resolve`."""

    base_url: str
    api_key: Secret | None
    auth_header: str
    headers: Mapping[str, str]
    """Sent with every request: headers from the environment, then the caller's defaults."""
    user_agent: str
    timeout: Timeout | None
    """Replaces the document's default timeout (operations' own overrides still apply)."""
    max_retries: int | None
    """Replaces the attempt limit of every retrying policy (single-attempt policies stay so)."""
    redactor: Redactor
    credentials: Mapping[str, Secret] = field(default_factory=dict)
    """Credentials for particular security schemes (by scheme name); others use ``api_key``."""
    circuit_breaker: bool | None = None
    """Turns every circuit breaker on or off; None keeps each one's ``enabled`` from the document."""
    tracing: bool = False
    """OpenTelemetry spans for every call (argument, else the document's tracing variable)."""

    def credential_map(self, schemes: Mapping[str, SecurityScheme]) -> dict[str, str | None]:
        """The credential each security scheme sends (None: nothing configured)."""
        key = str(self.api_key) if self.api_key is not None else None
        return {name: str(self.credentials[name]) if name in self.credentials else key
                for name in schemes}

    @classmethod
    def resolve(
        cls,
        table: OperationTable,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        timeout: float | tuple[float, float] | Timeout | None = None,
        max_retries: int | None = None,
        user_agent: str | None = None,
        sdk_version: str = "0",
        environ: Mapping[str, str] | None = None,
        require_api_key: bool = True,
        circuit_breaker: bool | None = None,
        tracing: bool | None = None,
        credentials: Mapping[str, str] | None = None,
        server_variables: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Combine arguments, ``environ`` (default ``os.environ``) and the document's defaults.

        Empty strings count as unset. Raise ConfigError (never quoting the key)
        when the key is missing while required, or lacks the declared prefix.
        ``credentials`` gives particular security schemes their own credential
        (by scheme name); ``server_variables`` fills the ``{variables}`` of the
        document's server URL (the document's defaults otherwise).
        """
        env = os.environ if environ is None else environ
        key, per_scheme = _credentials(table, api_key, credentials, env, require_api_key)
        url = _base_url(table, base_url, server_variables, env)
        headers, redactor = _headers_and_redactor(table, key, per_scheme, default_headers, env)
        if max_retries is not None and max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0 (got {max_retries}).")
        template = user_agent or table.api.user_agent or f"{table.api.name}/{{sdk_version}}"
        return cls(
            base_url=url.rstrip("/"),
            api_key=Secret(key) if key is not None else None,
            auth_header=table.auth.header,
            headers=MappingProxyType(headers),
            user_agent=template.replace("{sdk_version}", sdk_version),
            timeout=None if timeout is None else Timeout.coerce(timeout, table.default_timeout),
            max_retries=max_retries,
            redactor=redactor,
            circuit_breaker=circuit_breaker,
            tracing=tracing if tracing is not None else bool(
                table.tracing is not None and table.tracing.enabled(env)),
            credentials=MappingProxyType({k: Secret(v) for k, v in per_scheme.items()}),
        )

    def __repr__(self) -> str:
        return (f"ClientConfig(base_url={self.base_url!r}, api_key={self.api_key!r}, "
                f"headers={self.redactor.headers(self.headers)!r}, "
                f"user_agent={self.user_agent!r}, timeout={self.timeout!r}, "
                f"max_retries={self.max_retries!r})")


_SERVER_VARIABLE = re.compile(r"\{([^}]+)\}")


def _credentials(table: OperationTable, api_key: str | None,
                 credentials: Mapping[str, str] | None, env: Mapping[str, str],
                 require_api_key: bool) -> tuple[str | None, dict[str, str]]:
    """The API key (argument, else its variable) and the per-scheme credentials, checked.

    ConfigError for an unknown scheme, a missing key that is required, or a key
    without the declared prefix (naming where the key came from, never the key).
    """
    auth = table.auth
    key = _first(api_key, env.get(auth.env) if auth.env else None)
    per_scheme = {name: value for name, value in (credentials or {}).items() if value}
    unknown = sorted(set(per_scheme) - set(table.security_schemes))
    if unknown:
        raise ConfigError(f"Unknown security scheme(s) in credentials: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(table.security_schemes)) or 'none'}).")
    source = "the api_key argument" if api_key else f"${auth.env}"
    if key is None and require_api_key and not per_scheme:
        where = f" or set {auth.env}" if auth.env else ""
        raise ConfigError(f"No API key: pass api_key={where}.")
    if key is not None and auth.prefix and not key.startswith(auth.prefix):
        raise ConfigError(f"The API key from {source} must start with {auth.prefix!r}.")
    return key, per_scheme


def _base_url(table: OperationTable, base_url: str | None,
              server_variables: Mapping[str, str] | None, env: Mapping[str, str]) -> str:
    """The base URL (argument, else its variable, else the document's), variables filled."""
    url_env = table.api.env.get("base_url")
    url = _first(base_url, env.get(url_env) if url_env else None) or table.api.base_url
    url = _fill_server(url, {**table.server_variables, **(server_variables or {})})
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"The base URL must start with http:// or https:// (got {url!r}).")
    _check_url(url)
    return url


def _headers_and_redactor(table: OperationTable, key: str | None, per_scheme: Mapping[str, str],
                          default_headers: Mapping[str, str] | None, env: Mapping[str, str]
                          ) -> tuple[dict[str, str], Redactor]:
    """The headers of every request (the environment's, then the caller's) and the redactor
    that hides every secret among them and the credentials (also base64-encoded)."""
    auth = table.auth
    headers: dict[str, str] = {}
    secret_names = {auth.header.lower(), *ALWAYS_SECRET_HEADERS,
                    *(s.header.lower() for s in table.security_schemes.values() if s.header),
                    *(name.lower() for name in auth.secret_headers)}
    secret_values = [v for v in (key, *per_scheme.values()) if v]
    # a basic credential travels base64-encoded: that form is just as secret
    secret_values += [base64.b64encode(v.encode()).decode() for v in list(secret_values)]
    for extra in auth.env_headers:
        value = _first(env.get(extra.env))
        if value is not None:
            headers[extra.header] = value
        if extra.secret:
            secret_names.add(extra.header.lower())
            secret_values += [value] if value else []
    for name, value in (default_headers or {}).items():
        headers[name] = value
        if name.lower() in secret_names:
            secret_values.append(value)
    return headers, Redactor(secret_values, secret_names)


def _check_url(url: str) -> None:
    """A base URL that requests could not send to is a configuration error, found here."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parses the port: "http://h:x" fails here)
    except ValueError as e:
        raise ConfigError(f"The base URL {url!r} is not a valid URL: {e}.") from None
    if not parts.hostname:
        raise ConfigError(f"The base URL {url!r} has no host.")


def _fill_server(url: str, variables: Mapping[str, str]) -> str:
    """The server URL with its ``{variables}`` filled; ConfigError names one without a value."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ConfigError(f"The server URL {url!r} needs the variable {name!r}: "
                              f"pass server_variables={{{name!r}: ...}}.")
        return variables[name]
    return _SERVER_VARIABLE.sub(value, url)


def _first(*values: str | None) -> str | None:
    """The first value that is set (not None, not empty)."""
    for value in values:
        if value:
            return value
    return None
