"""The calling principal, as ``RestClient.whoami()`` reads it from the JWT's claims.

Not a wire type: no endpoint returns it, so it is not in the API document.
"""

from __future__ import annotations

from tinkex.types._base import WireModel


class WhoamiResponse(WireModel):
    user_urn: str
    """The JWT's ``sub`` claim."""
    org_urn: str
    """``tml:organization:<org_id claim>``."""
    email: str | None = None
    """Null for principals that are not users."""
