"""Mixer demixing: which withdrawals from a Tornado-style pool belong to the traced cluster.

Pure functions over the events, transactions and transfer tables (no I/O):

* :mod:`.pools` recognises pools (by their events at any address, labelled mixers, known
  mainnet pools) and their denominations;
* :mod:`.model` reads deposits, withdrawals and per-address activity into typed records;
* one module per published signal, each a registered heuristic: :mod:`.address_match`,
  :mod:`.linked_addresses`, :mod:`.timing`, :mod:`.gas_price`, :mod:`.multi_denomination`,
  :mod:`.relayer`;
* :mod:`.combine` turns the signals into one :class:`~.combine.MixerLink` per candidate
  withdrawal (noisy-OR, group propagation, one-to-one assignment to deposit notes) and
  :func:`~.combine.links_to_follow` picks those above the threshold;
* :mod:`.follow` turns the links to follow into taint links and says how sure a route
  through them is (the off-ramps' confidence and evidence behind a mixer).

Every signal answers the same question: is this withdrawal one of the traced cluster's notes?
Which of the cluster's deposits in that pool it spends cannot be known (that is what the
zero-knowledge proof hides); :mod:`.combine` pairs them so that no note is spent twice.
"""
