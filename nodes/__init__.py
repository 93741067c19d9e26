"""ComfyUI V3 node adapters over the `puppet_master` library (category "Puppet-Master"), registered through
`PuppetMasterExtension` (the pack's `comfy_entrypoint`). The Loader gives a native MODEL; Conditioning gives
positive/negative/LATENT for any ComfyUI sampler.

The nodes need ComfyUI's `comfy_api` (nodes/v3.py) at import; `comfy_env.py` is the only module that touches
ComfyUI's runtime (model folders, devices, temp images).
"""

from __future__ import annotations

from .conditioning import PuppetMasterConditioning
from .crop_nodes import PuppetMasterPasteBack, PuppetMasterPrepareImage
from .drag_nodes import PuppetMasterDrags, PuppetMasterDrawDrags
from .loaders import PuppetMasterLoader, PuppetMasterSVDEncoders
from .sampler import PuppetMasterSampler
from .toasts import install as install_warning_toasts
from .v3 import ComfyExtension, io
from .wrong_loader import install as install_wrong_loader_check

NODES: list[type[io.ComfyNode]] = [
    PuppetMasterLoader,
    PuppetMasterSVDEncoders,
    PuppetMasterDrags,
    PuppetMasterPrepareImage,
    PuppetMasterConditioning,
    PuppetMasterSampler,
    PuppetMasterPasteBack,
    PuppetMasterDrawDrags,
]
NODES_BY_ID: dict[str, type[io.ComfyNode]] = {node.__name__: node for node in NODES}
"""Each node by its ID (the class name, as in saved workflows: checked against the schema by the tests)."""


class PuppetMasterExtension(ComfyExtension):
    """What ComfyUI loads from the pack: its nodes, the on-prompt check that explains a Puppet-Master file
    queued in a core loader (nodes/wrong_loader.py), and the library's warnings as toasts (nodes/toasts.py)."""

    async def on_load(self) -> None:
        install_wrong_loader_check()
        install_warning_toasts()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
