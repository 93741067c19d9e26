"""ComfyUI node adapters over the `puppet_master` library (classic V1 nodes, category "Puppet-Master").
The Loader gives a native MODEL; Conditioning gives positive/negative/LATENT for any ComfyUI sampler.

Nothing here imports ComfyUI at import time; `comfy_env.py` is the only module that touches it.
"""

from .conditioning import PuppetMasterConditioning
from .crop_nodes import PuppetMasterPasteBack, PuppetMasterPrepareImage
from .drag_nodes import PuppetMasterDrags, PuppetMasterDrawDrags
from .loaders import PuppetMasterLoader, PuppetMasterSVDEncoders
from .sampler import PuppetMasterSampler

NODE_CLASS_MAPPINGS: dict[str, type] = {
    "PuppetMasterLoader": PuppetMasterLoader,
    "PuppetMasterSVDEncoders": PuppetMasterSVDEncoders,
    "PuppetMasterDrags": PuppetMasterDrags,
    "PuppetMasterPrepareImage": PuppetMasterPrepareImage,
    "PuppetMasterConditioning": PuppetMasterConditioning,
    "PuppetMasterSampler": PuppetMasterSampler,
    "PuppetMasterPasteBack": PuppetMasterPasteBack,
    "PuppetMasterDrawDrags": PuppetMasterDrawDrags,
}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "PuppetMasterLoader": "Puppet-Master Loader",
    "PuppetMasterSVDEncoders": "Puppet-Master SVD Encoders",
    "PuppetMasterDrags": "Puppet-Master Drags",
    "PuppetMasterPrepareImage": "Puppet-Master Prepare Image",
    "PuppetMasterConditioning": "Puppet-Master Conditioning",
    "PuppetMasterSampler": "Puppet-Master Sampler",
    "PuppetMasterPasteBack": "Puppet-Master Paste Back",
    "PuppetMasterDrawDrags": "Puppet-Master Draw Drags",
}
