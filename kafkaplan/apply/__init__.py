"""Stage 5, apply: carries a plan out in phases, one applier per resource kind; partition
reassignments; the wait until the cluster reports what was done."""
