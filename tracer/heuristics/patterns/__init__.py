"""Flow patterns launderers leave: peel chains, fan-out splits, fan-in consolidation and
rapid pass-through hops."""
