"""Stage 3, the plan: the typed, versioned ``Plan`` value and the pure
``compute_plan(desired, live)`` that makes it, one module per resource kind; drift."""
