"""Puppet-Master (arXiv 2408.04631): interactive video generation from one image and a few drags."""

__version__ = "0.1.0"
