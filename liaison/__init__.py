"""Drive a live Python process with JSON commands: a Companion and the servers that expose it."""

__version__ = "1.1.0"

from .companion import Companion, CommandError, ReentryError  # noqa: E402
from .interrupt import Cancelled, cancelled  # noqa: E402
from .resolve import PolicyError, ResolveError  # noqa: E402
from .remote import RemoteError  # noqa: E402

__all__ = ["Companion", "CommandError", "ReentryError", "Cancelled", "cancelled", "PolicyError", "ResolveError",
           "RemoteError", "__version__"]
