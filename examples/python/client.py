#!/usr/bin/python3
"""A dllm-serve client in Python: streams a Generate call block by block.

Uses Debian's python3-grpcio and python3-protobuf. The Python stubs are generated from
proto/dllm/v1/*.proto into a temporary folder at start (protoc + grpc_python_plugin, both
from Debian's protobuf-compiler and protobuf-compiler-grpc), so nothing generated is committed.

    /usr/bin/python3 examples/python/client.py --router 127.0.0.1:50051 \
        --prompt "What is the capital of France?" --gen-length 32 --block-length 8

Against a router serving TLS with a bearer token (docs/OPERATIONS.md, Security), add
`--tls-ca ca.pem --auth-token-file token.txt`.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")


def load_stubs():
    out = tempfile.mkdtemp(prefix="dllm_stubs_")
    subprocess.run(
        ["protoc", f"--proto_path={PROTO_ROOT}", f"--python_out={out}", f"--grpc_python_out={out}",
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         "dllm/v1/generation.proto"],
        check=True)
    sys.path.insert(0, out)
    from dllm.v1 import generation_pb2, generation_pb2_grpc  # noqa: E402
    return generation_pb2, generation_pb2_grpc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="127.0.0.1:50051")
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="prompt text")
    prompt.add_argument("--prompt-ids", help="comma-separated token ids")
    parser.add_argument("--gen-length", type=int)
    parser.add_argument("--block-length", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--policy", default="")
    parser.add_argument("--context", default="")
    parser.add_argument("--print-ids", action="store_true")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--tls-ca", help="dial over TLS, trusting this PEM CA")
    parser.add_argument("--tls-server-name", help="the name the router's certificate carries")
    parser.add_argument("--auth-token-file",
                        help="send 'authorization: Bearer TOKEN', TOKEN being this file's content")
    args = parser.parse_args()
    metadata = []
    if args.auth_token_file:
        with open(args.auth_token_file, encoding="ascii") as f:
            metadata.append(("authorization", "Bearer " + f.read().strip()))

    pb, rpc = load_stubs()
    import grpc  # noqa: E402

    request = pb.GenerateRequest(policy=args.policy, context=args.context)
    if args.prompt is not None:
        request.text = args.prompt
    else:
        request.ids.ids.extend(int(x) for x in args.prompt_ids.split(","))
    for field, value in (("gen_length", args.gen_length), ("block_length", args.block_length),
                         ("steps", args.steps)):
        if value is not None:
            setattr(request.params, field, value)

    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        options = [("grpc.ssl_target_name_override", args.tls_server_name)] \
            if args.tls_server_name else []
        channel = grpc.secure_channel(args.router, credentials, options=options)
    else:
        channel = grpc.insecure_channel(args.router)
    with channel:
        stub = rpc.GenerationStub(channel)
        try:
            done = None
            for message in stub.Generate(request, timeout=args.timeout, metadata=metadata):
                if message.HasField("block"):
                    sys.stdout.write(message.block.text)
                    sys.stdout.flush()
                elif message.HasField("done"):
                    done = message.done
        except grpc.RpcError as error:
            print(f"\nerror: {error.code().name}: {error.details()}", file=sys.stderr)
            return 2
    print()
    print(f"{done.usage.prompt_tokens} prompt + {done.usage.generated_tokens} generated tokens, "
          f"first block {done.timings.first_block_seconds:.3f} s, "
          f"total {done.timings.total_seconds:.3f} s", file=sys.stderr)
    if args.print_ids:
        print(",".join(str(i) for i in done.ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
