"""A group-API node written the way Flask apps usually are.

The routes are the API's own, with their trailing slashes, so Werkzeug's
``strict_slashes`` answers a path without one with ``308 Permanent
Redirect``. Creates answer 201 with a JSON body, reads 200 with JSON, and a
delete of an absent group 200 (the API's "idempotent delete").

Run by tests/real_nodes.rs: binds 127.0.0.1 on a free port, prints
``port=<n>`` on stdout, then serves until killed.
"""

import threading

from flask import Flask, abort, jsonify, request
from werkzeug.serving import make_server

app = Flask(__name__)
groups: set[str] = set()
lock = threading.Lock()


def group_id() -> str:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("groupId"), str):
        abort(400, "body must be a JSON object with a string groupId")
    return body["groupId"]


@app.post("/v1/group/")
def create():
    gid = group_id()
    with lock:
        if gid in groups:
            return jsonify(error="group exists"), 400
        groups.add(gid)
    return jsonify(groupId=gid), 201


@app.delete("/v1/group/")
def delete():
    gid = group_id()
    with lock:
        groups.discard(gid)
    return jsonify(groupId=gid)


@app.get("/v1/group/<group_id>/")
def read(group_id: str):
    with lock:
        if group_id not in groups:
            return jsonify(error="no such group"), 404
    return jsonify(groupId=group_id)


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"port={server.server_port}", flush=True)
    server.serve_forever()
