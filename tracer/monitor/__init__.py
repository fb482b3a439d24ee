"""``tracer monitor``: watch seed wallets block by block and raise each alert exactly once.

One pass reads the new confirmed blocks' transfers once (logs and traces of whole blocks, not
per address), matches them against the watch set and the traced set, and commits alerts, the
cursor and block hashes in one SQLite transaction per chunk of blocks; sinks deliver from the
pending table afterwards.

Modules: :mod:`.watchlist` (the input file), :mod:`.blocks` (reading block windows),
:mod:`.rules` (pure matching), :mod:`.alerts` (ids and the alert object), :mod:`.state`
(SQLite), :mod:`.sinks` (JSONL and webhook delivery), :mod:`.runner` (a pass and the loop).
"""
