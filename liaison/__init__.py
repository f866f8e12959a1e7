"""Drive a live Python process with JSON commands: a Companion and the servers that expose it."""

import os

__version__ = "1.1.0"

# liaison-py 1.0.1's packages companion/ and constants/ here would shadow our modules: stop in one line.
if any(os.path.isfile(os.path.join(__path__[0], name, "__init__.py")) for name in ("companion", "constants")):
    from .installation import refuse
    refuse(__path__[0])

from .companion import Companion, CommandError, ReentryError  # noqa: E402
from .interrupt import Cancelled, cancelled, shielded  # noqa: E402
from .output import progress  # noqa: E402
from .resolve import PolicyError, ResolveError  # noqa: E402
from .remote import RemoteError  # noqa: E402

__all__ = ["Companion", "CommandError", "ReentryError", "Cancelled", "cancelled", "shielded", "progress",
           "PolicyError", "ResolveError", "RemoteError", "__version__"]
