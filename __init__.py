"""ComfyUI entry point of the Puppet-Master node pack (loaded by ComfyUI as a package)."""

import os
import sys

_PACK = os.path.dirname(os.path.abspath(__file__))
if _PACK not in sys.path:
    sys.path.append(_PACK)  # the nodes import the bundled `puppet_master` library by name

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: E402
from .nodes.wrong_loader import install as _explain_core_loader_errors  # noqa: E402

_explain_core_loader_errors()

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
