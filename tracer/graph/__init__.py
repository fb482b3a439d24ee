"""The flow graph: the traced subgraph of the transfer table, and seed → sink paths."""
