#!/usr/bin/python3
"""STAND-IN for a MongoDB server, used only to record real pymongo traffic.

Debian has no MongoDB server, so captures/record.sh runs this tiny peer in the
server namespace and drives it with pymongo (a real driver): the client bytes
in the capture are genuine, the server replies are plausible but synthetic.

It speaks OP_QUERY (answered with OP_REPLY) and OP_MSG (section kinds 0 and 1)
and answers hello/isMaster, ping, buildInfo, listDatabases, find, insert,
endSessions and a real SCRAM-SHA-256 saslStart/saslContinue conversation
(one user, see USERS). Anything else gets {ok: 1}. Every command received is
appended as one JSON line to the journal file given with --journal, which
record.sh turns into the capture's facts.

usage: mongo_standin.py --host 0.0.0.0 --port 3717 --journal FILE
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import socketserver
import struct
import threading

import bson
from bson.int64 import Int64
from bson.objectid import ObjectId

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
USERS = {"mongoadmin": "mongo123"}
ITERATIONS = 4096
JOURNAL_LOCK = threading.Lock()
STORE = {
    "shop.customers": [
        {"_id": 1, "name": "Alice", "email": "alice@example.com"},
        {"_id": 2, "name": "Bob", "email": "bob@example.com"},
    ]
}
CONN_IDS = iter(range(1, 1 << 30))
REQUEST_IDS = iter(range(1000, 1 << 30))


def ismaster_reply(cmd, conn_id):
    reply = {
        "ismaster": True,
        "isWritablePrimary": True,
        "maxBsonObjectSize": 16777216,
        "maxMessageSizeBytes": 48000000,
        "maxWriteBatchSize": 100000,
        "localTime": datetime.datetime.now(datetime.timezone.utc),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": conn_id,
        "minWireVersion": 0,
        "maxWireVersion": 8,
        "readOnly": False,
    }
    if "saslSupportedMechs" in cmd:
        reply["saslSupportedMechs"] = ["SCRAM-SHA-256", "SCRAM-SHA-1"]
    reply["ok"] = 1.0
    return reply


class Scram:
    """Server side of one SCRAM-SHA-256 conversation (RFC 5802 / 7677)."""

    def __init__(self):
        self.user = None
        self.auth_message_head = None
        self.salted = None
        self.nonce = None

    def start(self, payload):
        client_first_bare = payload.split(b",", 2)[2].decode()
        fields = dict(f.split("=", 1) for f in client_first_bare.split(","))
        self.user = fields.get("n", "")
        self.nonce = fields.get("r", "") + base64.b64encode(os.urandom(18)).decode()
        salt = hashlib.sha256(self.user.encode()).digest()[:16]
        password = USERS.get(self.user, os.urandom(16).hex())
        self.salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
        server_first = "r=%s,s=%s,i=%d" % (self.nonce, base64.b64encode(salt).decode(), ITERATIONS)
        self.auth_message_head = client_first_bare + "," + server_first
        return server_first.encode()

    def finish(self, payload):
        text = payload.decode()
        without_proof, _, proof = text.rpartition(",p=")
        auth_message = (self.auth_message_head + "," + without_proof).encode()
        client_key = hmac.new(self.salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        expected = bytes(a ^ b for a, b in zip(client_key, signature))
        if self.user not in USERS or not hmac.compare_digest(expected, base64.b64decode(proof)):
            return None
        server_key = hmac.new(self.salted, b"Server Key", hashlib.sha256).digest()
        server_sig = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        return b"v=" + base64.b64encode(server_sig)


def auth_failed():
    return {"ok": 0.0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"}


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.conn_id = next(CONN_IDS)
        self.scram = None

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def handle(self):
        while True:
            header = self.recv_exact(16)
            if header is None:
                return
            length, request_id, _, opcode = struct.unpack("<iiii", header)
            if length < 16 or length > 48000000:
                return
            body = self.recv_exact(length - 16)
            if body is None:
                return
            if opcode == OP_QUERY:
                self.on_query(request_id, body)
            elif opcode == OP_MSG:
                self.on_msg(request_id, body)
            else:
                return

    def on_query(self, request_id, body):
        (flags,) = struct.unpack_from("<i", body, 0)
        end = body.index(b"\0", 4)
        full_name = body[4:end].decode()
        pos = end + 1 + 8
        (doc_len,) = struct.unpack_from("<i", body, pos)
        cmd = bson.decode(body[pos : pos + doc_len])
        database = full_name.split(".", 1)[0]
        reply = self.dispatch("OP_QUERY", database, cmd, {})
        doc = bson.encode(reply)
        payload = struct.pack("<iqii", 0, 0, 0, 1) + doc
        self.send(OP_REPLY, request_id, payload)

    def on_msg(self, request_id, body):
        (flags,) = struct.unpack_from("<I", body, 0)
        end = len(body) - (4 if flags & 1 else 0)
        pos, cmd, sequences = 4, None, {}
        while pos < end:
            kind = body[pos]
            pos += 1
            (size,) = struct.unpack_from("<i", body, pos)
            if kind == 0:
                cmd = bson.decode(body[pos : pos + size])
            else:
                ident_end = body.index(b"\0", pos + 4)
                ident = body[pos + 4 : ident_end].decode()
                sequences[ident] = bson.decode_all(body[ident_end + 1 : pos + size])
            pos += size
        database = cmd.get("$db", "admin")
        reply = self.dispatch("OP_MSG", database, cmd, sequences)
        self.send(OP_MSG, request_id, struct.pack("<I", 0) + b"\0" + bson.encode(reply))

    def send(self, opcode, response_to, payload):
        header = struct.pack("<iiii", 16 + len(payload), next(REQUEST_IDS), response_to, opcode)
        self.request.sendall(header + payload)

    def dispatch(self, opcode, database, cmd, sequences):
        name = next(iter(cmd), "")
        reply = self.answer(name, database, cmd, sequences)
        collection = cmd.get(name) if isinstance(cmd.get(name), str) else None
        entry = {
            "opcode": opcode,
            "database": database,
            "command": name,
            "collection": collection,
            "ok": reply.get("ok") == 1.0,
            "client_port": self.client_address[1],
        }
        if name in ("saslStart", "saslContinue"):
            entry["mechanism"] = cmd.get("mechanism")
            entry["user"] = self.scram.user if self.scram else None
        if name == "insert":
            entry["documents"] = len(cmd.get("documents", sequences.get("documents", [])))
        with JOURNAL_LOCK, open(ARGS.journal, "a") as journal:
            journal.write(json.dumps(entry) + "\n")
        return reply

    def answer(self, name, database, cmd, sequences):
        lname = name.lower()
        if lname in ("ismaster", "hello"):
            return ismaster_reply(cmd, self.conn_id)
        if lname == "ping":
            return {"ok": 1.0}
        if lname == "buildinfo":
            return {
                "version": "4.2.24",
                "gitVersion": "5e4ec1d24431fcdd28b579a024c5c801b8cde4e2",
                "versionArray": [4, 2, 24, 0],
                "bits": 64,
                "maxBsonObjectSize": 16777216,
                "ok": 1.0,
            }
        if lname == "listdatabases":
            names = sorted({"admin", "config", "local"} | {ns.split(".")[0] for ns in STORE})
            dbs = [{"name": n, "sizeOnDisk": Int64(40960), "empty": False} for n in names]
            return {"databases": dbs, "totalSize": Int64(40960 * len(dbs)), "ok": 1.0}
        if lname == "find":
            ns = "%s.%s" % (database, cmd.get(name))
            wanted = cmd.get("filter") or {}
            docs = [d for d in STORE.get(ns, []) if all(d.get(k) == v for k, v in wanted.items())]
            return {"cursor": {"firstBatch": docs, "id": Int64(0), "ns": ns}, "ok": 1.0}
        if lname == "insert":
            ns = "%s.%s" % (database, cmd.get(name))
            docs = cmd.get("documents") or sequences.get("documents", [])
            STORE.setdefault(ns, []).extend(docs)
            return {"n": len(docs), "ok": 1.0}
        if lname == "saslstart":
            self.scram = Scram()
            payload = self.scram.start(bytes(cmd.get("payload", b"")))
            return {"conversationId": 1, "done": False, "payload": payload, "ok": 1.0}
        if lname == "saslcontinue":
            if self.scram is None:
                return auth_failed()
            data = bytes(cmd.get("payload", b""))
            if not data:
                return {"conversationId": 1, "done": True, "payload": b"", "ok": 1.0}
            final = self.scram.finish(data)
            if final is None:
                return auth_failed()
            return {"conversationId": 1, "done": True, "payload": final, "ok": 1.0}
        return {"ok": 1.0}


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=3717)
    parser.add_argument("--journal", required=True)
    ARGS = parser.parse_args()
    with Server((ARGS.host, ARGS.port), Handler) as server:
        server.serve_forever()
