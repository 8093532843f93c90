"""The Flask "hello" of bench/apps.sh."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, world!"
