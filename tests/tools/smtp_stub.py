"""Tiny SMTP servers for the `postern send` tests (Python 3.11 has no smtpd module).

SmtpSink: a threaded, socket-based submission sink that speaks just enough ESMTP (EHLO,
STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT) and records every command and message.
GreetingOnly: a plaintext server that sends an SMTP greeting and waits (wrong-mode tests).
SilentTls: an implicit-TLS server that completes the handshake and waits for the client.
"""
import base64
import socket
import ssl
import threading


class _Server:
    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._guard, args=(conn,), daemon=True).start()

    def _guard(self, conn):
        conn.settimeout(20)
        try:
            self.handle(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.sock.close()


class GreetingOnly(_Server):
    def handle(self, conn):
        conn.sendall(b"220 stub.example ESMTP plaintext stub\r\n")
        while conn.recv(4096):
            pass


class SilentTls(_Server):
    def __init__(self, context):
        self.context = context
        super().__init__()

    def handle(self, conn):
        tls = self.context.wrap_socket(conn, server_side=True)
        while tls.recv(4096):
            pass


class SmtpSink(_Server):
    def __init__(self, context=None, starttls=True, implicit=False, reject_rcpt=(),
                 users=None, queue_id="Q1D2E3", host="127.0.0.1"):
        self.context = context
        self.starttls = starttls and context is not None
        self.implicit = implicit
        self.reject_rcpt = set(reject_rcpt)
        self.users = users or {}
        self.queue_id = queue_id
        self.commands = []
        self.messages = []  # dicts: from, mail_line, rcpt, data (bytes), tls, auth
        super().__init__(host)

    def handle(self, conn):
        if self.implicit:
            conn = self.context.wrap_socket(conn, server_side=True)
        s = _Lines(conn)
        s.send("220 sink.example ESMTP test sink")
        state = {"tls": self.implicit, "auth": None, "from": None, "mail_line": None, "rcpt": []}
        while True:
            line = s.readline()
            if line is None:
                return
            text = line.decode("utf-8", "replace")
            self.commands.append(text if not text.upper().startswith("AUTH") else text.split()[0] + " " + text.split()[1])
            verb = text.split(" ")[0].upper()
            if verb == "EHLO":
                caps = ["sink.example", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"]
                if self.starttls and not state["tls"]:
                    caps.append("STARTTLS")
                caps.append("AUTH PLAIN LOGIN")
                s.send_multi(250, caps)
            elif verb == "STARTTLS" and self.starttls and not state["tls"]:
                s.send("220 2.0.0 go ahead")
                conn = self.context.wrap_socket(conn, server_side=True)
                s = _Lines(conn)
                state["tls"] = True
            elif verb == "AUTH":
                state["auth"] = self._auth(s, text)
            elif verb == "MAIL":
                state["from"] = text[10:].split(">")[0].lstrip("<")
                state["mail_line"] = text
                state["rcpt"] = []
                s.send("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = text[8:].split(">")[0].lstrip("<")
                if addr in self.reject_rcpt:
                    s.send("550 5.1.1 <%s>: no such user here" % addr)
                else:
                    state["rcpt"].append(addr)
                    s.send("250 2.1.5 ok")
            elif verb == "DATA":
                s.send("354 end with <CRLF>.<CRLF>")
                data = s.read_data()
                self.messages.append({"from": state["from"], "mail_line": state["mail_line"],
                                      "rcpt": list(state["rcpt"]), "data": data,
                                      "tls": state["tls"], "auth": state["auth"]})
                s.send("250 2.0.0 Ok: queued as %s" % self.queue_id)
            elif verb == "QUIT":
                s.send("221 2.0.0 bye")
                return
            else:
                s.send("502 5.5.2 command not recognised")

    def _auth(self, s, text):
        parts = text.split()
        if parts[1].upper() == "PLAIN" and len(parts) == 3:
            _, user, password = base64.b64decode(parts[2]).split(b"\0")
        elif parts[1].upper() == "LOGIN":
            s.send("334 VXNlcm5hbWU6")
            user = base64.b64decode(s.readline())
            s.send("334 UGFzc3dvcmQ6")
            password = base64.b64decode(s.readline())
        else:
            s.send("504 5.5.4 unsupported")
            return None
        if self.users.get(user.decode()) == password.decode():
            s.send("235 2.7.0 authenticated")
            return user.decode()
        s.send("535 5.7.8 authentication credentials invalid")
        return None


class _Lines:
    def __init__(self, conn):
        self.conn = conn
        self.buf = b""

    def send(self, line):
        self.conn.sendall(line.encode() + b"\r\n")

    def send_multi(self, code, lines):
        out = ""
        for i, l in enumerate(lines):
            out += "%d%s%s\r\n" % (code, " " if i == len(lines) - 1 else "-", l)
        self.conn.sendall(out.encode())

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_data(self):
        lines = []
        while True:
            line = self.readline()
            if line is None or line == b".":
                break
            lines.append(line[1:] if line.startswith(b".") else line)  # RFC 5321 4.5.2
        return b"\r\n".join(lines) + b"\r\n"
