"""Flows: every gateway exchange captured (both sides, timings, tokens, cost) and written
behind the call through a bounded queue to a sink the server wires (the relay's store).

    flow.py      Flow: what one exchange is, filled in as it happens (cheap appends only)
    recorder.py  Recorder: begins flows, wraps responses, queues, the writer task; FlowSink
    digest.py    pure: a finished Flow → a row (redaction, usage, cost, compression)
    usage.py     pure: token usage and errors read from any format's body or stream
"""
