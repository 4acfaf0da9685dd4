"""The inference service: an ASGI application on the Open Inference Protocol
(KServe V2) with health, metrics, API keys, rate limits, an audit log, an
admin API for rollouts and a status page, started by ``fugue-ppl serve``.

Every module here but the settings (``_service_config``, which the
configuration composes) needs the ``serve`` extra (Starlette and the ASGI
server); ``import fugue_ppl`` never imports this package.
"""
