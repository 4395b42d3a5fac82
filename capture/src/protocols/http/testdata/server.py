from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def _send(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in [b"hello ", b"chunked ", b"world"]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Checksum: 1\r\n\r\n")
        elif self.path.startswith("/secret"):
            if "Authorization" not in self.headers:
                self.send_response(401); self.send_header("WWW-Authenticate", 'Basic realm="x"'); self.send_header("Content-Length", "0"); self.end_headers()
            else:
                self._send(200, b"welcome\n")
        else:
            self._send(200, b"<html>index of " + self.path.encode() + b"</html>\n", "text/html")
    def do_HEAD(self):
        self._send(200, b"x" * 1234)
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        self._send(201, b"stored %d bytes\n" % len(body))
    do_PUT = do_POST
ThreadingHTTPServer(("127.0.0.1", 8080), H).serve_forever()
