"""The local web console: static pages and a same-origin proxy to the stack (server.py)."""
