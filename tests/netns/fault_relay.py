#!/usr/bin/env python3
"""Userspace fault relay for the netns resilience tests (this kernel has no netem).

Listens on one address for UDP and TCP and forwards to a target (the postern server):
  UDP  each client source address gets its own upstream socket (so the server sees one flow per
       client); datagrams in both directions go through the fault model below.
  TCP  plain byte pipe (the control channel is TLS over TCP: its losses are TCP's business).

Fault model, per datagram and per direction, with independent probabilities:
  --loss P        drop it
  --duplicate P   send it twice
  --corrupt P     flip one random byte (the AEAD must reject it)
  --reorder P     hold it back --reorder-ms so the datagrams after it overtake it
  --delay-ms D    delay every datagram by D ms (plus up to --jitter-ms)
  --blackhole     start with UDP blackholed (every datagram dropped, both directions)

Commands, one per line, written to the --control FIFO (created if missing):
  blackhole on | blackhole off     drop all UDP / stop doing so
  rebind                           new upstream source port for every flow (NAT rebinding)
  set loss=P reorder=P duplicate=P corrupt=P delay_ms=D jitter_ms=D
  stats                            print the counters now
Every event and the final counters are printed to stdout as `relay <event> key=value ...`.
Usage: fault_relay.py --listen IP:PORT --target IP:PORT [options]
"""
import argparse
import asyncio
import os
import random
import signal
import socket
import stat
import sys


def parse_endpoint(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def say(event, **fields):
    print("relay", event, *(f"{k}={v}" for k, v in fields.items()), flush=True)


class Faults:
    def __init__(self, args, rng):
        self.rng = rng
        self.loss = args.loss
        self.reorder = args.reorder
        self.reorder_ms = args.reorder_ms
        self.duplicate = args.duplicate
        self.corrupt = args.corrupt
        self.delay_ms = args.delay_ms
        self.jitter_ms = args.jitter_ms
        self.blackhole = args.blackhole
        self.counters = dict(forwarded=0, dropped=0, blackholed=0, duplicated=0, corrupted=0,
                             reordered=0, rebinds=0, flows=0, tcp_connections=0)

    def apply(self, data, send, loop):
        """Runs one datagram through the model; `send(bytes)` emits it."""
        c, rng = self.counters, self.rng
        if self.blackhole:
            c["blackholed"] += 1
            return
        if rng.random() < self.loss:
            c["dropped"] += 1
            return
        if rng.random() < self.corrupt:
            c["corrupted"] += 1
            buf = bytearray(data)
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
            data = bytes(buf)
        copies = 1
        if rng.random() < self.duplicate:
            c["duplicated"] += 1
            copies = 2
        delay = self.delay_ms + (rng.random() * self.jitter_ms if self.jitter_ms else 0.0)
        if rng.random() < self.reorder:
            c["reordered"] += 1
            delay += self.reorder_ms
        c["forwarded"] += 1
        for _ in range(copies):
            if delay > 0:
                loop.call_later(delay / 1000.0, send, data)
            else:
                send(data)


class Upstream(asyncio.DatagramProtocol):
    """The socket one client's datagrams leave by; answers go back to that client."""

    def __init__(self, relay, client):
        self.relay, self.client, self.transport = relay, client, None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if self.relay.flows.get(self.client) is not self:
            return  # a rebind replaced this socket: a real NAT would have forgotten the mapping
        self.relay.faults.apply(data, self.relay.send_to_client(self.client), self.relay.loop)

    def error_received(self, exc):
        pass  # ICMP unreachable while the server restarts: keep going


class UdpFront(asyncio.DatagramProtocol):
    def __init__(self, relay):
        self.relay, self.transport = relay, None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.relay.from_client(data, addr)

    def error_received(self, exc):
        pass


class Relay:
    def __init__(self, args):
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.faults = Faults(args, random.Random(args.seed))
        self.listen = parse_endpoint(args.listen)
        self.target = parse_endpoint(args.target)
        self.flows = {}
        self.pending = {}  # client -> datagrams that arrived while its upstream was opening
        self.front = None

    def send_to_client(self, client):
        def send(data):
            if self.front and self.front.transport:
                self.front.transport.sendto(data, client)
        return send

    def from_client(self, data, client):
        flow = self.flows.get(client)
        if flow is None:
            if client not in self.pending:
                self.pending[client] = []
                self.loop.create_task(self.open_flow(client))
            self.pending[client].append(data)
            return

        def send(d, flow=flow):
            if flow.transport and not flow.transport.is_closing():
                flow.transport.sendto(d)
        self.faults.apply(data, send, self.loop)

    async def open_flow(self, client):
        _, flow = await self.loop.create_datagram_endpoint(
            lambda: Upstream(self, client), remote_addr=self.target)
        old = self.flows.get(client)
        self.flows[client] = flow
        if old is not None:
            old.transport.close()
        else:
            self.faults.counters["flows"] += 1
        port = flow.transport.get_extra_info("sockname")[1]
        say("flow", client=f"{client[0]}:{client[1]}", source_port=port)
        for data in self.pending.pop(client, []):
            self.from_client(data, client)

    async def rebind(self):
        self.faults.counters["rebinds"] += 1
        for client in list(self.flows):
            await self.open_flow(client)
        say("rebound", flows=len(self.flows))

    async def tcp_client(self, reader, writer):
        self.faults.counters["tcp_connections"] += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError as e:
            say("tcp_connect_failed", error=e.strerror)
            writer.close()
            return

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    dst.close()
                except OSError:
                    pass

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def command(self, line):
        words = line.split()
        if not words:
            return
        f = self.faults
        if words[0] == "blackhole" and len(words) == 2:
            f.blackhole = words[1] == "on"
            say("blackhole", state="on" if f.blackhole else "off")
        elif words[0] == "rebind":
            self.loop.create_task(self.rebind())
        elif words[0] == "set":
            for kv in words[1:]:
                key, _, value = kv.partition("=")
                if hasattr(f, key) and key != "counters":
                    setattr(f, key, float(value))
            say("set", **{kv.partition("=")[0]: kv.partition("=")[2] for kv in words[1:]})
        elif words[0] == "stats":
            say("stats", **f.counters)
        else:
            say("unknown_command", line=line.strip().replace(" ", "_"))

    def watch_fifo(self, path):
        if not os.path.exists(path):
            os.mkfifo(path, 0o600)
        elif not stat.S_ISFIFO(os.stat(path).st_mode):
            sys.exit(f"{path} exists and is not a FIFO")
        # O_RDWR: the FIFO never reports EOF when a writer goes away.
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        buffer = bytearray()

        def readable():
            try:
                buffer.extend(os.read(fd, 4096))
            except BlockingIOError:
                return
            while b"\n" in buffer:
                line, _, rest = bytes(buffer).partition(b"\n")
                buffer[:] = rest
                self.command(line.decode(errors="replace"))
        self.loop.add_reader(fd, readable)

    async def run(self):
        family = socket.AF_INET6 if ":" in self.listen[0] else socket.AF_INET
        _, self.front = await self.loop.create_datagram_endpoint(
            lambda: UdpFront(self), local_addr=self.listen, family=family)
        sock = self.front.transport.get_extra_info("socket")
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
        server = await asyncio.start_server(self.tcp_client, *self.listen, reuse_address=True)
        if self.args.control:
            self.watch_fifo(self.args.control)
        done = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(s, done.set)
        f = self.faults
        say("listening", listen=self.args.listen, target=self.args.target, loss=f.loss, reorder=f.reorder,
            duplicate=f.duplicate, corrupt=f.corrupt, delay_ms=f.delay_ms, blackhole="on" if f.blackhole else "off")
        await done.wait()
        server.close()
        say("stats", **f.counters)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--reorder", type=float, default=0.0)
    p.add_argument("--reorder-ms", type=float, default=2.0)
    p.add_argument("--duplicate", type=float, default=0.0)
    p.add_argument("--corrupt", type=float, default=0.0)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--blackhole", action="store_true")
    p.add_argument("--control", help="FIFO to read commands from")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()

    async def go():
        await Relay(args).run()
    asyncio.run(go())


if __name__ == "__main__":
    main()
