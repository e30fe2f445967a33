#!/usr/bin/env python3
# tests/fuzz/capture/netlink.py OUTDIR: captures rtnetlink datagrams from
# the running kernel for fuzz_netlink's seed corpus (run it inside a
# scratch network namespace; tests/fuzz/capture/netlink.sh does).
#
# Each file is one byte (0: a reply on the request socket, 1: an event),
# then one datagram exactly as recv() returned it, except that every
# message's nlmsg_pid is cleared: loomd skips replies addressed to another
# socket, and the fuzz target's socketless handle has port id 0.
import os
import socket
import struct
import subprocess
import sys

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
RTM_NEWLINK, RTM_GETLINK = 16, 18
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 1, 4, 0x200, 0x400, 0x300
IFLA_IFNAME, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA = 3, 18, 1, 2
IFLA_VXLAN_LOCAL = 4
RTMGRP_LINK = 1

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
count = 0


def save(kind, data):
    global count
    buf = bytearray(data)
    off = 0
    while off + 16 <= len(buf):
        length = struct.unpack_from('=I', buf, off)[0]
        if length < 16:
            break
        struct.pack_into('=I', buf, off + 12, 0)
        off += (length + 3) & ~3
    name = ('event' if kind else 'reply') + '-%02d' % count
    count += 1
    with open(os.path.join(out, name), 'wb') as f:
        f.write(bytes([kind]) + bytes(buf))


def attr(t, payload):
    n = 4 + len(payload)
    return struct.pack('=HH', n, t) + payload + b'\0' * ((4 - n % 4) % 4)


def msg(t, flags, seq, body):
    return struct.pack('=IHHII', 16 + len(body), t, flags, seq, 0) + body


def recv_until_done(s, want_done):
    while True:
        data = s.recv(65536)
        save(0, data)
        t = struct.unpack_from('=H', data, 4)[0]
        if not want_done or t in (2, 3):	# NLMSG_ERROR, NLMSG_DONE
            return


req = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
req.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
req.bind((0, 0))
ev = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
ev.bind((0, RTMGRP_LINK))

ifinfo = struct.pack('=BxHiII', 0, 0, 0, 0, 0)
# A dump of every link (what kvtep_observe reads).
req.send(msg(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, ifinfo))
recv_until_done(req, True)
# A get by name (the probe) and one for a name that is not there (an error).
for seq, name in ((2, b'vx10000\0'), (3, b'nosuchlink\0')):
    req.send(msg(RTM_GETLINK, NLM_F_REQUEST, seq, ifinfo + attr(IFLA_IFNAME, name)))
    recv_until_done(req, False)
# Refused creations: the kernel's extended ACK says why.
bad = attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b'vxlan\0') +
           attr(IFLA_INFO_DATA, attr(IFLA_VXLAN_LOCAL, b'\xc0\x00\x02\x01')))
req.send(msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 4,
             ifinfo + attr(IFLA_IFNAME, b'vxbad\0') + bad))
recv_until_done(req, False)
req.send(msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 5,
             ifinfo + attr(IFLA_IFNAME, b'br10000\0') +
             attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, b'bridge\0'))))
recv_until_done(req, False)
# A plain ACK.
req.send(msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 6,
             struct.pack('=BxHiII', 0, 0, socket.if_nametoindex('lo'), 1, 1)))
recv_until_done(req, False)

# Events: what the event socket sees while links change.
for cmd in ('link set eth0 down', 'link set eth0 up', 'link add p9 type veth peer name p9b',
            'link set p9 master br10000', 'link set p9 up', 'link del p9',
            'link set vx10000 down', 'link set vx10000 up'):
    subprocess.run(['ip'] + cmd.split(), check=True)
ev.settimeout(0.5)
try:
    while True:
        save(1, ev.recv(65536))
except socket.timeout:
    pass
