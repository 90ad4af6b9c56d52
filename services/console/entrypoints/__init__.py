"""The console's entry points: the Starlette ASGI app (``web.py``: pages, forms with CSRF tokens, the
server-sent-events feed) and the command line (``cli.py``: serve, hash-password)."""
