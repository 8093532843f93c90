"""The bare WSGI "hello" of bench/apps.sh: 13 bytes, Content-Length set."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]
