import socket, time
s = socket.create_connection(("127.0.0.1", 8080))
s.sendall(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: pipeline/1\r\n\r\n"
          b"GET /chunked HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: pipeline/1\r\n\r\n"
          b"HEAD /h HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: pipeline/1\r\n\r\n"
          b"GET /last HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: pipeline/1\r\nConnection: close\r\n\r\n")
while s.recv(65536): pass
