"""One TLS client context per process, shared by every HTTP client a run opens.

Building a context loads the CA bundle: 15 to 40 ms of CPU, more than a whole short run.
Clients come and go with runs and event loops (the nodes' GuardedClient per run, the LLM
SDKs' clients per loop), and each used to build its own context: a worker spent most of a
three-node run loading certificates. An ``ssl.SSLContext`` is safe to share between
threads and event loops, and a forked pool process inherits the loaded one.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def default_context() -> ssl.SSLContext:
    """The verifying context: certifi's CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set."""
    return httpx.create_ssl_context(trust_env=True)
