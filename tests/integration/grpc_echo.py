#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A gRPC service and its client on Debian's python3-grpcio, no generated
code: raw-bytes methods through generic handlers.

  grpc_echo.py serve PORT         serves /l7t.Echo/{Unary,ServerStream,
                                  ClientStream,Bidi} on 127.0.0.1:PORT (h2c)
  grpc_echo.py call PORT ROUNDS   calls them; a request b"fail:N" makes the
                                  server end the call with status code N;
                                  prints {"/l7t.Echo/Unary": {"OK": n, ...}, ...}:
                                  what the client saw, per method and code

Streaming calls carry several messages each way; failing ones fail after
their messages, so the code is in trailers after DATA.
"""

import json
import sys
import time
from concurrent import futures

import grpc

SERVICE = "l7t.Echo"


def code_of(msg):
    """The status code a request asks the call to end with, None for OK."""
    if msg.startswith(b"fail:"):
        return next(c for c in grpc.StatusCode if c.value[0] == int(msg[5:]))
    return None


def unary(request, context):
    code = code_of(request)
    if code:
        context.abort(code, "asked to fail")
    return request


def server_stream(request, context):
    for i in range(3):
        yield request + b"#%d" % i
    code = code_of(request)
    if code:
        context.abort(code, "asked to fail")


def client_stream(requests, context):
    got = list(requests)
    code = code_of(got[-1]) if got else None
    if code:
        context.abort(code, "asked to fail")
    return b"".join(got)


def bidi(requests, context):
    last = b""
    for r in requests:
        last = r
        yield r
    code = code_of(last)
    if code:
        context.abort(code, "asked to fail")


def serve(port):
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("grpc_echo: serving on %d" % port, flush=True)
    server.wait_for_termination()


# (request, code expected): OK, then failing codes
PLAN = [b"hello", b"fail:14", b"hello", b"fail:5", b"fail:3", b"hello", b"fail:13"]


def call(port, rounds):
    seen = {}

    def note(method, code):
        per = seen.setdefault("/%s/%s" % (SERVICE, method), {})
        per[code.name] = per.get(code.name, 0) + 1

    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        unary_call = ch.unary_unary("/%s/Unary" % SERVICE)
        sstream = ch.unary_stream("/%s/ServerStream" % SERVICE)
        cstream = ch.stream_unary("/%s/ClientStream" % SERVICE)
        bidi_call = ch.stream_stream("/%s/Bidi" % SERVICE)
        missing = ch.unary_unary("/%s/Missing" % SERVICE)
        for _ in range(rounds):
            for msg in PLAN:
                for method, fn in (("Unary", lambda m: unary_call(m, timeout=10)),
                                   ("ServerStream", lambda m: list(sstream(m, timeout=10))),
                                   ("ClientStream", lambda m: cstream(iter([b"a", b"b", m]), timeout=10)),
                                   ("Bidi", lambda m: list(bidi_call(iter([b"x", m]), timeout=10)))):
                    try:
                        fn(msg)
                        note(method, grpc.StatusCode.OK)
                    except grpc.RpcError as e:
                        note(method, e.code())
            try:
                missing(b"?", timeout=10)
                note("Missing", grpc.StatusCode.OK)
            except grpc.RpcError as e:
                note("Missing", e.code())
    print(json.dumps(seen, sort_keys=True))


def main():
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        call(int(sys.argv[2]), int(sys.argv[3]))


if __name__ == "__main__":
    main()
