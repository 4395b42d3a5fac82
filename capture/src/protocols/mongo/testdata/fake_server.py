# A tiny fake MongoDB server: enough for pymongo to authenticate (and fail),
# insert, find, update and delete. Used once to record a test capture.
import socket, struct, threading, bson, sys

def reply_msg(req_id, resp_to, doc):
    body = struct.pack('<I', 0) + b'\x00' + bson.encode(doc)
    return struct.pack('<iiii', 16 + len(body), req_id, resp_to, 2013) + body

def reply_legacy(req_id, resp_to, doc):
    d = bson.encode(doc)
    body = struct.pack('<iqii', 8, 0, 0, 1) + d
    return struct.pack('<iiii', 16 + len(body), req_id, resp_to, 1) + body

HELLO = {'ismaster': True, 'helloOk': True, 'maxBsonObjectSize': 16777216, 'maxMessageSizeBytes': 48000000,
         'maxWriteBatchSize': 100000, 'minWireVersion': 0, 'maxWireVersion': 17, 'ok': 1.0,
         'connectionId': 1, 'logicalSessionTimeoutMinutes': 30}

def handle(conn):
    rid = 100
    buf = b''
    while True:
        while len(buf) < 16 or len(buf) < struct.unpack('<i', buf[:4])[0]:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        length, req_id, _, op = struct.unpack('<iiii', buf[:16])
        msg, buf = buf[:length], buf[length:]
        rid += 1
        if op == 2004:
            conn.sendall(reply_legacy(rid, req_id, HELLO))
            continue
        flags = struct.unpack('<I', msg[16:20])[0]
        doclen = struct.unpack('<i', msg[21:25])[0]
        doc = bson.decode(msg[21:21 + doclen])
        cmd = next(iter(doc))
        if cmd in ('hello', 'isMaster', 'ismaster'):
            out = dict(HELLO)
        elif cmd in ('saslStart', 'saslContinue'):
            out = {'ok': 0.0, 'errmsg': 'Authentication failed.', 'code': 18, 'codeName': 'AuthenticationFailed'}
        elif cmd == 'insert':
            out = {'n': 3, 'ok': 1.0}
        elif cmd == 'find':
            out = {'cursor': {'id': 0, 'ns': doc['$db'] + '.' + doc['find'], 'firstBatch': [{'_id': 1, 'card': '4111'}, {'_id': 2}]}, 'ok': 1.0}
        elif cmd in ('update', 'delete'):
            out = {'n': 1, 'nModified': 1, 'ok': 1.0}
        elif cmd == 'drop':
            out = {'ok': 0.0, 'errmsg': 'ns not found', 'code': 26, 'codeName': 'NamespaceNotFound'}
        else:
            out = {'ok': 1.0}
        if flags & 2:
            continue
        conn.sendall(reply_msg(rid, req_id, out))

s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
