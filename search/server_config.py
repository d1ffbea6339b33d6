"""The gunicorn settings `serve` cannot give on gunicorn's command line (loaded with --config python:...).

A new connection holds one of a worker's threads while gunicorn waits for its first bytes, for up
to 5 s in gunicorn 27 (`DEFAULT_WORKER_DATA_TIMEOUT`, not a setting). A few hundred connections
that send nothing (a browser's preconnects, a port scan, a slow client on purpose) then queue
every other request behind them: `/livez` took 120 s behind 100 idle connections. Waited for only
a moment, such a connection is handed to the worker's poller, as a keep-alive one is, and holds
no thread. The same constant bounds the drain of a request body the app did not read, after
which the connection is closed rather than kept alive.
"""

from gunicorn.workers import gthread

FIRST_BYTES_WAIT = 0.02  # seconds a new connection may hold a thread before its request arrives

gthread.DEFAULT_WORKER_DATA_TIMEOUT = FIRST_BYTES_WAIT
