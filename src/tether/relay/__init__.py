"""The people-side half: sessions, messages and permission requests, live over SSE and WebSocket."""
