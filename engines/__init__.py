"""Engines shipped with flashtts; each subpackage owns its model code and registers by entry point."""
