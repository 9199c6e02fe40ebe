"""Stage 2, the live state: the narrow ``Cluster`` and ``Registry`` interfaces and their real
adapters, the one retry policy, the apply lease, and the batched read into a ``LiveState``."""
