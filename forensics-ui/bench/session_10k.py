"""Writes a pcap of one attacker session of about 10,000 packets: one
client making 54 FTP connections of 45 commands each to one server, an
hour before the generated benchmark traffic.

    python3 forensics-ui/bench/session_10k.py OUT.pcap
"""
import struct, sys

def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0x4000, 64, 6, 0, bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp + payload

out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
t = 1699996000 * 1_000_000
def write(f):
    global t
    t += 1500
    out.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(f), len(f)) + f)
c, s = [10, 250, 0, 1], [172, 16, 9, 10]
SYN, ACK, PSH, FIN = 2, 16, 8, 1
for conn in range(54):
    sp = 20000 + conn
    cs, ss = 1000, 5000
    write(frame(c, s, sp, 21, cs, 0, SYN)); write(frame(s, c, 21, sp, ss, cs + 1, SYN | ACK)); cs += 1; ss += 1
    write(frame(c, s, sp, 21, cs, ss, ACK))
    banner = b"220 (vsFTPd 3.0.3)\r\n"
    write(frame(s, c, 21, sp, ss, cs, ACK | PSH, banner)); ss += len(banner)
    for i in range(45):
        req = (b"USER admin%d\r\n" % i) if i % 2 == 0 else (b"PASS guess%d-%d\r\n" % (conn, i))
        rep = b"331 Please specify the password.\r\n" if i % 2 == 0 else b"530 Login incorrect.\r\n"
        write(frame(c, s, sp, 21, cs, ss, ACK | PSH, req)); cs += len(req)
        write(frame(s, c, 21, sp, ss, cs, ACK))
        write(frame(s, c, 21, sp, ss, cs, ACK | PSH, rep)); ss += len(rep)
        write(frame(c, s, sp, 21, cs, ss, ACK))
    write(frame(c, s, sp, 21, cs, ss, ACK | FIN)); write(frame(s, c, 21, sp, ss, cs + 1, ACK | FIN))
    write(frame(c, s, sp, 21, cs + 1, ss + 1, ACK))
