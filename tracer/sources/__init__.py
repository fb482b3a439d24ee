"""Data sources: the only package besides ``tracer.crawl`` that awaits anything.

* :mod:`~tracer.sources.transport`: the run's HTTP client (rate limits, retries, redaction).
* :mod:`~tracer.sources.rpcclient`: JSON-RPC calls and batches; error codes as data.
* :mod:`~tracer.sources.jsonrpc`: :class:`~tracer.sources.jsonrpc.JsonRpcSource`, transfers
  touching an address from any EVM node.
"""
