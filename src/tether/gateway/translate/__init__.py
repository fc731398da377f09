"""Pure translation between the Anthropic Messages and OpenAI Chat Completions formats.

No I/O and no logging here: the gateway app parses bodies once, calls these
functions over dicts, and frames the results. Each module is named for what it
translates and which way: `<source>_<request|response|stream>_to_<target>.py`.
"""
