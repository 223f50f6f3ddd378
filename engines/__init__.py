"""Engines shipped with flashtts (installed as ``flashtts_engines``); each subpackage owns its model code
and registers by entry point."""
