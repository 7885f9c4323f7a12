#!/usr/bin/env python3
"""A gRPC server and client for Shunt's HTTP/2 edge tests (grpcio, no generated code: raw bytes).

  peer.py server NAME          serves shunt.test.Echo on 127.0.0.1:<ephemeral>, prints the port,
                               and stops when its standard input closes.
  peer.py client TARGET [--header K=V] SCENARIO
                               runs one scenario against TARGET and prints JSON lines.

Every answer of the server starts with its NAME, so the caller sees who served it.
"""
import json
import sys
import threading
import time

import grpc

SERVICE = "shunt.test.Echo"


def serve(name):
    cancelled = {"count": 0}
    lock = threading.Lock()

    def tag(text):
        return (name + ":" + text).encode()

    def unary(request, context):
        context.set_trailing_metadata((("served-by", name),))
        return tag(request.decode())

    def server_stream(request, context):
        for index in range(int(request.decode())):
            yield tag(str(index))

    def client_stream(requests, context):
        count, total = 0, 0
        for message in requests:
            count += 1
            total += len(message)
        return tag("%d:%d" % (count, total))

    def bidi(requests, context):
        for message in requests:
            yield tag(message.decode())

    def big(request, context):
        # The request is N MiB of one repeated octet; the answer is the same size back.
        return bytes(request[:1]) * len(request)

    def slow(request, context):
        # One message at once, then nothing until the caller gives up.
        def on_done():
            if not context.is_active():
                with lock:
                    cancelled["count"] += 1
        context.add_callback(on_done)
        yield tag("started")
        while context.is_active():
            time.sleep(0.02)

    def was_cancelled(request, context):
        with lock:
            return tag(str(cancelled["count"]))

    def server_cancel(request, context):
        # The server gives up on the call: RST_STREAM CANCEL towards the caller.
        context.cancel()

    def fail(request, context):
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, name + " refuses")

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Big": grpc.unary_unary_rpc_method_handler(big),
        "Slow": grpc.unary_stream_rpc_method_handler(slow),
        "WasCancelled": grpc.unary_unary_rpc_method_handler(was_cancelled),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "ServerCancel": grpc.unary_unary_rpc_method_handler(server_cancel),
    }
    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.max_send_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


def emit(**fields):
    print(json.dumps(fields), flush=True)


def client(target, metadata, scenario):
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20),
                                                     ("grpc.max_send_message_length", 64 << 20),
                                                     ("grpc.enable_retries", 0),
                                                     ("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(channel).result(timeout=10)

    def method(kind, name):
        path = "/%s/%s" % (SERVICE, name)
        return getattr(channel, kind)(path)

    def who(answer):
        return answer.decode().split(":", 1)[0]

    if scenario == "kinds":
        # All four call kinds, with and without the metadata, on one channel (one connection).
        for with_header in (True, False):
            md = metadata if with_header else ()
            answer, call = method("unary_unary", "Unary").with_call(b"hello", metadata=md, timeout=10)
            trailers = dict(call.trailing_metadata() or ())
            emit(call="unary", header=with_header, by=who(answer), answer=answer.decode(), trailer=trailers.get("served-by"))
            answers = [a.decode() for a in method("unary_stream", "ServerStream")(b"5", metadata=md, timeout=10)]
            emit(call="server-streaming", header=with_header, by=sorted({a.split(":")[0] for a in answers}), count=len(answers))
            answer = method("stream_unary", "ClientStream")(iter([b"a" * 10] * 7), metadata=md, timeout=10)
            emit(call="client-streaming", header=with_header, by=who(answer), answer=answer.decode())
            answers = [a.decode() for a in method("stream_stream", "Bidi")(iter([b"x", b"y", b"z"]), metadata=md, timeout=10)]
            emit(call="bidi", header=with_header, by=sorted({a.split(":")[0] for a in answers}), answers=answers)
            try:
                method("unary_unary", "Fail")(b"", metadata=md, timeout=10)
                emit(call="status", header=with_header, code="OK")
            except grpc.RpcError as error:
                emit(call="status", header=with_header, code=error.code().name, details=error.details())
    elif scenario == "once":
        # One unary call with the metadata: its status, whatever it is.
        try:
            answer = method("unary_unary", "Unary")(b"once", metadata=metadata, timeout=10)
            emit(call="once", code="OK", by=who(answer))
        except grpc.RpcError as error:
            emit(call="once", code=error.code().name, details=error.details())
    elif scenario == "big":
        payload = b"q" * (8 << 20)
        answer = method("unary_unary", "Big")(payload, metadata=metadata, timeout=60)
        emit(call="big", size=len(answer), intact=(answer == payload))
    elif scenario == "concurrent":
        # Many calls at once over one connection, half with the metadata.
        results = []
        lock = threading.Lock()

        def one(index):
            md = metadata if index % 2 == 0 else ()
            answer = method("unary_unary", "Unary")(("n%d" % index).encode(), metadata=md, timeout=20)
            with lock:
                results.append((index, who(answer)))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        laptop = sorted({by for index, by in results if index % 2 == 0})
        app = sorted({by for index, by in results if index % 2 == 1})
        emit(call="concurrent", count=len(results), header_by=laptop, plain_by=app)
    elif scenario == "cancel":
        # A deadline and an explicit cancel, each seen by the server that served the call.
        stream = method("unary_stream", "Slow")(b"", metadata=metadata, timeout=1.0)
        first = next(stream).decode()
        try:
            for _ in stream:
                pass
            emit(call="deadline", first=first, code="OK")
        except grpc.RpcError as error:
            emit(call="deadline", first=first, code=error.code().name)
        stream = method("unary_stream", "Slow")(b"", metadata=metadata, timeout=30)
        first = next(stream).decode()
        stream.cancel()
        emit(call="cancel", first=first, code=stream.code().name)
        by = who(first.encode())
        seen = "0"
        for _ in range(250):
            seen = method("unary_unary", "WasCancelled")(b"", metadata=metadata, timeout=10).decode().split(":")[1]
            if seen == "2":
                break
            time.sleep(0.02)
        emit(call="server-saw-cancel", by=by, cancelled=int(seen))
        # The other way: the server cancels, the caller hears CANCELLED.
        try:
            method("unary_unary", "ServerCancel")(b"", metadata=metadata, timeout=10)
            emit(call="server-cancel", code="OK")
        except grpc.RpcError as error:
            emit(call="server-cancel", code=error.code().name)
    elif scenario == "hang":
        # Waits on a call until it ends; the test kills the laptop meanwhile.
        stream = method("unary_stream", "Slow")(b"", metadata=metadata, timeout=60)
        first = next(stream).decode()
        emit(call="hang", first=first)
        began = time.monotonic()
        try:
            for _ in stream:
                pass
            emit(call="hang-end", code="OK", seconds=time.monotonic() - began)
        except grpc.RpcError as error:
            emit(call="hang-end", code=error.code().name, details=error.details(), seconds=time.monotonic() - began)
        # The app still serves the same channel afterwards.
        answer = method("unary_unary", "Unary")(b"after", timeout=10)
        emit(call="after", by=who(answer))
    else:
        raise SystemExit("unknown scenario " + scenario)


def main(argv):
    if len(argv) >= 3 and argv[1] == "server":
        serve(argv[2])
    elif len(argv) >= 4 and argv[1] == "client":
        metadata = []
        args = argv[3:]
        while args and args[0] == "--header":
            key, value = args[1].split("=", 1)
            metadata.append((key.lower(), value))
            args = args[2:]
        client(argv[2], tuple(metadata), args[0])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
