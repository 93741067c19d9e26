"""ComfyUI entry point of the Puppet-Master node pack (loaded by ComfyUI as a package).

ComfyUI calls `comfy_entrypoint` for the V3 nodes (nodes/__init__.py); the nodes, and ComfyUI's API with them,
are imported only then, so importing this package needs neither. No NODE_CLASS_MAPPINGS here: ComfyUI would
then load those and ignore the entrypoint.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .nodes import PuppetMasterExtension

_PACK = os.path.dirname(os.path.abspath(__file__))
if _PACK not in sys.path:
    sys.path.append(_PACK)  # the nodes import the bundled `puppet_master` library by name

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]


async def comfy_entrypoint() -> PuppetMasterExtension:
    """The pack's ComfyExtension (ComfyUI's V3 entry point)."""
    from .nodes import PuppetMasterExtension

    return PuppetMasterExtension()
