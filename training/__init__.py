"""Puppet-Master training recipe, data pipeline and evaluation (see training/README.md)."""
