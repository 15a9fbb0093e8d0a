"""MCP both ways (issue 17), on the official ``mcp`` SDK.

* :mod:`.servers` says which MCP server a name means: an ``mcp`` credential (streamable
  HTTP) or ``stdio:<name>`` from the administrator's allow-list file;
* :mod:`.transport` is the SDK's HTTP client with the SSRF guard on every connection;
* :mod:`.client` opens a session, lists tools and calls one, turning the result into
  capped, redacted JSON (used by ``llm.agent``, the ``mcp.tool`` node and the editor);
* :mod:`.agent_tools` makes LangChain tools of a server's tools for ``llm.agent``;
* :mod:`.server` is AgentFlow as an MCP server (the ``/api/mcp`` endpoint).
"""
