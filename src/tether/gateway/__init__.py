"""The model-side half: model API surfaces routed to providers (see `app.py`).

Kept empty on purpose: `tether.gateway.config` is read by every CLI command, and importing
it must not pull in the whole gateway (providers, translators, httpx).
"""
