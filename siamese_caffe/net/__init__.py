"""Stage 2, the network: the siamese check (netcheck), wrapping with Data layers (wrap),
its picture (drawnet) and the solver (solver)."""
