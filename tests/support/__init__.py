"""Shared test helpers: audio comparison, real SIP peer launchers, speech samples."""
