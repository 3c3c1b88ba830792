#!/usr/bin/env python3
"""Runs moto's server (the local stand-in for DynamoDB, SQS, S3, Secrets Manager) on a free
loopback port.

Prints one line, `READY http://127.0.0.1:<port>`, once it accepts requests, then serves until its
standard input closes. Whoever starts it holds the pipe, so the server can never outlive its
owner (a test binary that crashes, or a Ctrl-C'd local stack). `POST <url>/moto-api/reset`
empties every service between tests.
"""
import logging
import sys

from moto.server import ThreadedMotoServer

import moto_patches


def main():
    moto_patches.apply()
    moto_patches.apply_exports()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"READY http://{host}:{port}", flush=True)
    # Blocks until the owner closes the pipe or exits.
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
