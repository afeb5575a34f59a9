"""An MCP server on the official Python SDK 2.x, for the gateway's tests.

    python sdk2_server.py PORT [--modern-only]

Serves /mcp on 127.0.0.1:PORT over Streamable HTTP in the SDK's default dual mode (2025
sessions and 2026-07-28 stateless requests on one endpoint). With --modern-only, a thin ASGI
wrapper refuses every 2025 request (-32022 naming 2026-07-28, GET/DELETE 405), so the server
is one that only the 2026-07-28 revision can reach.

Tools: add(a, b); grow() adds the tool `grown` and announces the change to listeners;
greet() elicits a name first, capital() asks the client's model (multi round-trip at
2026-07-28); trace_context() reports the W3C trace context it was called with. A resource, a prompt with a
completion.
"""

import json
import sys
from typing import Annotated

import uvicorn
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve, Sample
from mcp_types import CreateMessageResult, SamplingMessage, TextContent
from pydantic import BaseModel
from mcp_types import Completion, PromptReference
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

mcp = MCPServer("py-backend", version="1.0.0", instructions="Test backend.")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def grown() -> str:
    """Appears once grow was called."""
    return "grown"


@mcp.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `grown` and tells listeners that the tool list changed."""
    mcp.add_tool(grown)
    await ctx.notify_tools_changed()
    return "grew"


class Login(BaseModel):
    name: str


def ask_login() -> Elicit[Login]:
    return Elicit("Who are you?", Login)


@mcp.tool()
def greet(login: Annotated[Login, Resolve(ask_login)]) -> str:
    """Greets after asking the client who is there (2026-07-28: an input_required round)."""
    return f"hello {login.name}"


def ask_capital() -> Sample:
    question = SamplingMessage(role="user", content=TextContent(type="text", text="Capital of France?"))
    return Sample([question], max_tokens=20)


@mcp.tool()
def capital(answer: Annotated[CreateMessageResult, Resolve(ask_capital)]) -> str:
    """Asks the client's model first (2026-07-28: an input_required round)."""
    return f"the model said {answer.content.text}"


@mcp.tool()
def trace_context(ctx: Context) -> str:
    """The W3C trace context this request arrived with, as JSON: the `traceparent` header, and
    the parent span the SDK took from `_meta` (its server span's parent; the SDK's spans do not
    record without an OpenTelemetry SDK, but they carry that context)."""
    from opentelemetry import trace

    span = trace.get_current_span().get_span_context()
    headers = ctx.headers or {}
    return json.dumps(
        {
            "header": headers.get("traceparent"),
            "meta_trace_id": format(span.trace_id, "032x") if span.is_valid else None,
            "meta_span_id": format(span.span_id, "016x") if span.is_valid else None,
        }
    )


@mcp.resource("py://greeting", mime_type="text/plain")
def greeting() -> str:
    return "hello from py"


@mcp.prompt()
def review(code: str, language: str = "python") -> str:
    """Review code."""
    return f"Please review this {language} code:\n{code}"


@mcp.completion()
async def complete(ref, argument, context):
    if isinstance(ref, PromptReference) and argument.name == "language":
        values = [v for v in ["python", "pytorch", "rust"] if v.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)
    return None


class ModernOnly:
    """Refuses 2025 traffic before it reaches the SDK's dual-era session manager."""

    def __init__(self, app, path="/mcp"):
        self.app, self.path = app, path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return await self.app(scope, receive, send)
        if scope["method"] != "POST":
            return await reply(send, 405, None, [(b"allow", b"POST")])
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        try:
            req = json.loads(body)
        except ValueError:
            req = {}
        req = req if isinstance(req, dict) else {}
        params = req.get("params") if isinstance(req.get("params"), dict) else {}
        requested = version or params.get("protocolVersion") or ""
        err = {
            "code": -32022,
            "message": "Unsupported protocol version; this server speaks only 2026-07-28",
            "data": {"supported": list(MODERN_PROTOCOL_VERSIONS), "requested": requested},
        }
        await reply(send, 400, {"jsonrpc": "2.0", "id": req.get("id"), "error": err})


async def reply(send, status, payload, extra=()):
    data = b"" if payload is None else json.dumps(payload).encode()
    headers = [(b"content-length", str(len(data)).encode())] + list(extra)
    if payload is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


if __name__ == "__main__":
    port = int(sys.argv[1])
    app = mcp.streamable_http_app(host="127.0.0.1")
    if "--modern-only" in sys.argv:
        app = ModernOnly(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
