"""The official SDK's ``tinker.lib`` import paths (``tinker.lib.public_interfaces``)."""

from tinkex.lib import public_interfaces as public_interfaces
