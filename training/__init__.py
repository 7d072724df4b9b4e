"""Training pipeline: each stage is a CLI command that writes an artifact the next one reads."""
