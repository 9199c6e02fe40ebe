"""Development tools (not installed with kafkaplan)."""
