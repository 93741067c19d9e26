"""The Puppet-Master denoising UNet."""

from .context import BlockDrags, DragContext, Modulation
from .frame_batch import DragContextCache, FrameBatchUNet
from .operations import build_unet, use_operations
from .unet import PuppetMasterUNet

__all__ = [
    "BlockDrags",
    "DragContext",
    "DragContextCache",
    "FrameBatchUNet",
    "Modulation",
    "PuppetMasterUNet",
    "build_unet",
    "use_operations",
]
