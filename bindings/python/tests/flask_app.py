"""A small Flask application for test_wsgi.py (served by python -m nhttps.wsgi)."""

import hashlib

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.route("/hello/<name>")
def hello(name):
    return "hello %s" % name


@app.route("/query")
def query():
    return jsonify(sorted(request.args.items(multi=True)))


@app.route("/json", methods=["POST"])
def echo_json():
    return jsonify({"got": request.get_json(), "scheme": request.scheme})


@app.route("/stream")
def stream():
    return Response((("part %d\n" % i) for i in range(3)), mimetype="text/plain")


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    h, n = hashlib.sha256(), 0
    while True:
        block = f.stream.read(65536)
        if not block:
            break
        h.update(block)
        n += len(block)
    return "%s %d %s" % (f.filename, n, h.hexdigest())


@app.route("/whoami")
def whoami():
    return request.environ.get("SSL_CLIENT_S_DN", "nobody")
