"""The Puppet-Master denoising UNet."""

from .context import BlockDrags, DragContext, Modulation
from .unet import PuppetMasterUNet

__all__ = ["BlockDrags", "DragContext", "Modulation", "PuppetMasterUNet"]
