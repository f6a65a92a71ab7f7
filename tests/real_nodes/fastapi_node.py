"""A group-API node written the way FastAPI apps usually are.

The routes have no trailing slash, so FastAPI's default ``redirect_slashes``
answers the API's own paths (``/v1/group/``, ``/v1/group/{id}/``) with
``307 Temporary Redirect`` to the bare path. Reads answer 200 with an empty
body, creates 201 with an empty body, and a delete of an absent group 404.

Run by tests/real_nodes.rs: binds 127.0.0.1 on a free port, prints
``port=<n>`` on stdout, then serves until killed.
"""

import socket
import sys

import uvicorn
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel

app = FastAPI()
groups: set[str] = set()


class Group(BaseModel):
    groupId: str


@app.post("/v1/group", status_code=201)
def create(group: Group) -> Response:
    if group.groupId in groups:
        raise HTTPException(status_code=400, detail="group exists")
    groups.add(group.groupId)
    return Response(status_code=201)


@app.delete("/v1/group")
def delete(group: Group) -> dict:
    if group.groupId not in groups:
        raise HTTPException(status_code=404, detail="no such group")
    groups.remove(group.groupId)
    return {"groupId": group.groupId}


@app.get("/v1/group/{group_id}")
def read(group_id: str) -> Response:
    if group_id not in groups:
        raise HTTPException(status_code=404, detail="no such group")
    return Response(status_code=200)


if __name__ == "__main__":
    # Note: with proto IPPROTO_TCP (not the default 0), asyncio sets TCP_NODELAY on each
    # accepted connection. Without it uvicorn's headers and body go in two writes, and Nagle
    # holds the body until the client's delayed ACK: 40 ms for every answer with a body.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"port={sock.getsockname()[1]}", flush=True)
    # Note: uvicorn listens on the socket once it is ready, so a connection
    # succeeds only when the app can answer.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    sys.exit(0)
