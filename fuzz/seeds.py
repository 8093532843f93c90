#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/corpus/<target>/:
the request vectors of c-tests/vectors/ (decoded, as vector_NAME) plus a
few hand-made inputs per target. Run it again after adding a vector; the
result is committed. Usage: python3 fuzz/seeds.py"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "c-tests", "vectors")
ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def decode(text):
    """The vector format of c-tests/vectors/README.md."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i:i + 1]
        if c in (b"\n", b"\r"):
            i += 1
        elif c == b"\\":
            e = text[i + 1:i + 2].decode()
            if e == "x":
                out += bytes([int(text[i + 2:i + 4], 16)])
                i += 4
            else:
                out += ESCAPES[e]
                i += 2
        else:
            out += c
            i += 1
    return bytes(out)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    with open(os.path.join(VECTORS, "expected.txt")) as m:
        names = [l.split("#")[0].split()[0] for l in m if l.split("#")[0].strip()]
    for name in names:
        with open(os.path.join(VECTORS, name + ".http"), "rb") as f:
            write("request", "vector_" + name, decode(f.read()))

    H = b"Host: example.com\r\n"
    extra_requests = {
        "pipelined": b"GET /1 HTTP/1.1\r\n" + H + b"\r\nPOST /2 HTTP/1.1\r\n" + H
        + b"Content-Length: 3\r\n\r\nabcPUT /3 HTTP/1.1\r\n" + H
        + b"Transfer-Encoding: chunked\r\n\r\n3;x=\"y\"\r\nabc\r\n0\r\nT: 1\r\n\r\n"
        + b"GET /4 HTTP/1.0\r\n\r\n",
        "upgrade": b"GET /ws HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes",
        "connect": b"CONNECT example.com:443 HTTP/1.1\r\n" + H + b"\r\n",
        "expect_continue": b"PUT /f HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
        "keep_alive_10": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /again HTTP/1.0\r\n\r\n",
    }
    for name, data in extra_requests.items():
        write("request", name, data)

    responses = {
        "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
        "chunked_trailers": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
        "until_close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\neverything until the end",
        "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nokHTTP/1.0 404 Not Found\r\n\r\n",
        "interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        "no_body": b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes",
        "both_framings": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "bad_length": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "bad_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "no_reason": b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
        "obs_fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    }
    for name, data in responses.items():
        write("response", name, data)

    accessors = {
        "fields": b"Content-Type:text/html\0X-A: 1\0x-a:2\0Set-Cookie:a=b; Path=/\0X-A:3",
        "bad_fields": b"Bad Name:x\0X-Inject:a\r\nB: c\0X-Nul:\0:empty\0X-Tab:\ta\t",
        "url": b"https://user:p%40ss@Example.COM:8443/a/b?c=d#frag",
        "url_ipv6": b"https://[::1]:443/?q",
        "url_query_only": b"https://host?x=1",
    }
    for name, data in accessors.items():
        write("accessors", name, data)

    def v2(command, family, rest):
        """A PROXY v2 header: signature, version 2 and command, family and
        protocol, length, then `rest`."""
        return (b"\r\n\r\n\0\r\nQUIT\n" + bytes([0x20 | command, family])
                + len(rest).to_bytes(2, "big") + rest)

    ipv4 = bytes([192, 0, 2, 1, 198, 51, 100, 2, 0xc8, 0x22, 0x01, 0xbb])
    ipv6 = bytes.fromhex("20010db8" + "00" * 11 + "01" + "20010db8" + "00" * 11 + "02" + "c82201bb")
    tlvs = b"\x01\x00\x02h2\x02\x00\x0bexample.com\x04\x00\x03\0\0\0"
    client_hello = b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03"
    proxy_headers = {
        "v1_tcp4": b"PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n" + client_hello,
        "v1_tcp6": b"PROXY TCP6 2001:db8::1 ::ffff:198.51.100.2 51234 443\r\n",
        "v1_unknown": b"PROXY UNKNOWN\r\n",
        "v1_unknown_107": b"PROXY UNKNOWN " + b"ffff:" * 7 + b"ffff " + b"ffff:" * 7
        + b"ffff 65535 65535\r\n",
        "v2_tcp4": v2(1, 0x11, ipv4) + client_hello,
        "v2_tcp6_tlvs": v2(1, 0x21, ipv6 + tlvs),
        "v2_local": v2(0, 0x00, b""),
        "v2_unix": v2(1, 0x31, b"/run/client.sock".ljust(108, b"\0")
                      + b"/run/server.sock".ljust(108, b"\0")),
        "v2_short_length": v2(1, 0x21, ipv4),
    }
    for name, data in proxy_headers.items():
        write("proxy_header", name, data)


if __name__ == "__main__":
    main()
