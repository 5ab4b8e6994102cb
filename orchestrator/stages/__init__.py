"""Pipeline stages; each reads and writes the run directory."""
