#!/usr/bin/env python3
"""Python's http.client as a peer: GETs each PATH over one HTTPS
connection and prints `status=NNN body=...` per response.

  http_client.py --port N [--host H] PATH...

The certificate is not verified (the tests use the development one)."""
import argparse
import http.client
import ssl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    ctx = ssl._create_unverified_context()
    conn = http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=30)
    for path in args.paths:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        print(f"status={r.status} body={body}")
    conn.close()


if __name__ == "__main__":
    main()
