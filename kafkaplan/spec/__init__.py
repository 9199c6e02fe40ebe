"""Stage 1, the specs: the project file, YAML with line numbers, the spec models, ACL roles,
schema files, units and topic configs, checked and normalized into a ``DesiredState``."""
