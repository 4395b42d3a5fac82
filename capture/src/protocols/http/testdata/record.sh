#!/bin/sh
# Records http-local.pcap: Python's http.server (server.py) answering curl
# 7.88 (Debian bookworm) and a pipelining client (pipeline.py) on loopback.
# Run as root from this folder: sh record.sh
set -e
head -c 40000 /dev/zero | tr '\0' 'A' > upload.bin
python3 server.py & SP=$!
sleep 1
tcpdump -i lo -s 0 -w http-local.pcap 'tcp port 8080' & TP=$!
sleep 1
curl -s -o /dev/null 'http://127.0.0.1:8080/index.html?q=%27or%201=1'
curl -s -o /dev/null -u admin:hunter2 http://127.0.0.1:8080/secret
curl -s -o /dev/null -F "file=@upload.bin;filename=shell.php" -F note=hi http://127.0.0.1:8080/upload
curl -s -o /dev/null -H "Expect: 100-continue" --data-binary @upload.bin http://127.0.0.1:8080/post
curl -s -o /dev/null -T upload.bin http://127.0.0.1:8080/put.bin
curl -s -o /dev/null -I http://127.0.0.1:8080/head
python3 pipeline.py
sleep 1
kill $TP $SP
rm upload.bin
