"""A local stand-in for API Gateway (HTTP API, payload format 2.0).

Routes come from template.yaml (through the provisioner's description), path parameters included
(`/admin/reviews/{review_id}`). A route with a JWT authorizer gets the authorizer's checks first
(dev_auth.verify, with the local stack's dev key): without a valid token the function is never
invoked and the answer is API Gateway's 401; with one, the claims reach the function in
`requestContext.authorizer.jwt.claims`. Each request is turned into the API Gateway v2 event the
deployed function receives, invoked through cargo-lambda's Lambda emulator, and the function's
response is turned back into HTTP, as API Gateway does.
"""
import base64
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dev_auth

# API Gateway's own payload limit for HTTP APIs.
MAX_PAYLOAD = 10 * 1024 * 1024
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")


def route_pattern(path):
    """A route path as a regex: `{name}` is one segment, `{name+}` the rest of the path."""
    out, names = "", []
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            names.append(name.rstrip("+"))
            out += "(.+)" if name.endswith("+") else "([^/]+)"
        else:
            out += re.escape(part)
    return re.compile(f"^{out}$"), names


def v2_event(method, path, query, headers, body, route_key, path_parameters=None, claims=None):
    content_type = headers.get("content-type", "")
    is_text = any(content_type.startswith(t) for t in TEXT_TYPES)
    try:
        text = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text = None
    now = datetime.now(timezone.utc)
    context = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": headers.get("host", "localhost"),
        "domainPrefix": "local",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": context,
        "body": text if text is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": text is None,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


class Gateway:
    def __init__(self, functions, invoke_url, port, host="127.0.0.1", log=None):
        # (method, route path) -> (compiled pattern, parameter names, function, authorizer)
        self.routes = {}
        for fn in functions.values():
            for r in fn["routes"]:
                pattern, names = route_pattern(r["path"])
                self.routes[(r["method"], r["path"])] = (pattern, names, fn, r.get("authorizer"))
        self.public_key = (
            dev_auth.public_key() if any(a for *_, a in self.routes.values()) else None
        )
        self.invoke_url = invoke_url.rstrip("/")
        self.log = log or (lambda line: print(line, flush=True))
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # one compact line per request
                pass

            def handle_any(self):
                gateway.serve(self)

            do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = handle_any

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()

    def match(self, method, path):
        """The route for a request: an exact path wins over a templated one, as in API Gateway."""
        exact = self.routes.get((method, path))
        if exact:
            return f"{method} {path}", exact, {}
        for (m, route_path), route in self.routes.items():
            if m != method:
                continue
            found = route[0].match(path)
            if found:
                params = {n: urllib.parse.unquote(v) for n, v in zip(route[1], found.groups())}
                return f"{m} {route_path}", route, params
        return None, None, None

    @staticmethod
    def reply(h, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        for k, v in (headers or {"content-type": "application/json"}).items():
            h.send_header(k, v)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def serve(self, h):
        path, _, query = h.path.partition("?")
        length = int(h.headers.get("content-length") or 0)
        if length > MAX_PAYLOAD:
            return self.reply(h, 413, {"message": "Request Entity Too Large"})
        body = h.rfile.read(length) if length else b""
        route_key, route, params = self.match(h.command, path)
        if route is None:
            return self.reply(h, 404, {"message": "Not Found"})
        _, _, fn, authorizer = route
        headers = {}
        for k, v in h.headers.items():  # API Gateway lower-cases names and joins repeats with ","
            k = k.lower()
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        claims = None
        if authorizer:
            try:
                claims = dev_auth.verify(headers, authorizer, self.public_key)
            except dev_auth.Unauthorized as why:
                self.log(f"gateway: {h.command} {path} -> 401 (authorizer: {why})")
                return self.reply(h, 401, {"message": "Unauthorized"},
                                  {"content-type": "application/json", "www-authenticate": "Bearer"})
        event = v2_event(h.command, path, query, headers, body, route_key, params, claims)
        started = time.monotonic()
        try:
            req = urllib.request.Request(
                f"{self.invoke_url}/2015-03-31/functions/{fn['binary']}/invocations",
                data=json.dumps(event).encode(),
                method="POST",
            )
            # The first invocation of a function may compile it; allow for that.
            with urllib.request.urlopen(req, timeout=fn["timeout"] + 600) as resp:
                result = json.loads(resp.read())
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as e:
            self.log(f"gateway: {h.command} {path} -> invoke failed: {e}")
            return self.reply(h, 500, {"message": "Internal Server Error"})
        if "statusCode" not in result:  # the function returned an error object
            self.log(f"gateway: {h.command} {path} -> function error: {result.get('errorType')}")
            return self.reply(h, 500, {"message": "Internal Server Error"})
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        status = result["statusCode"]
        self.log(f"gateway: {h.command} {path} -> {status} ({(time.monotonic() - started) * 1000:.0f} ms)")
        return self.reply(h, status, data, result.get("headers") or {})
