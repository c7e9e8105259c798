#!/usr/bin/env python3
"""Integration test of `postern send` against Python stub servers (see smtp_stub.py).

Checks the words and exit codes of the wrong-mode diagnoses (refused, plaintext on a TLS port,
TLS on a plaintext port, untrusted certificate, password without TLS, SMTP rejection) and a full
STARTTLS + AUTH submission with an attachment, parsed back with the email module.
Needs POSTERN_BIN (set by ctest) and the openssl command.
"""
import email
import email.policy
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtp_stub  # noqa: E402

import ssl  # noqa: E402

BIN = os.environ.get("POSTERN_BIN", "postern")
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("     " + detail.replace("\n", "\n     "))


def send(*args, stdin=b"Hello from the test.\n"):
    cmd = [BIN, "send", "--from", "Alice <alice@example.org>", "--to", "bob@example.org",
           "--subject", "test", "--timeout", "2", *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def make_cert(tmp, name="localhost", san="DNS:localhost,IP:127.0.0.1,IP:::1"):
    key, cert = os.path.join(tmp, name + ".key"), os.path.join(tmp, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=" + san],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_refused():
    port = free_port()
    rc, _, err = send("--server", "127.0.0.1:%d" % port)
    check(rc != 0 and "connection refused by 127.0.0.1:%d (nothing listening)" % port in err,
          "refused port is named in words", err)


def test_tls_to_plaintext():
    srv = smtp_stub.GreetingOnly()
    rc, _, err = send("--server", "127.0.0.1:%d" % srv.port, "--tls", "--insecure")
    check(rc != 0 and ("127.0.0.1:%d speaks plaintext SMTP, not implicit TLS: use --starttls "
                       "(or port 465 with --tls)" % srv.port) in err,
          "--tls against a plaintext SMTP port is diagnosed", err)
    check("220 stub.example" in err, "the diagnosis quotes the server's greeting", err)
    srv.close()


def test_plaintext_to_tls(ctx):
    srv = smtp_stub.SilentTls(ctx)
    rc, _, err = send("--server", "127.0.0.1:%d" % srv.port)
    check(rc != 0 and "127.0.0.1:%d expects implicit TLS (SMTPS): use --tls" % srv.port in err,
          "plaintext against an implicit-TLS port is diagnosed", err)
    srv.close()


def test_untrusted_certificate(ctx, cert):
    srv = smtp_stub.SmtpSink(ctx, implicit=True)
    rc, _, err = send("--server", "localhost:%d" % srv.port, "--tls")
    check(rc != 0 and "certificate" in err and "--ca FILE" in err and "--insecure" in err,
          "an untrusted certificate names the reason and --ca FILE / --insecure", err)
    check("self-signed" in err or "issuer" in err, "the verification reason is given", err)
    check(not srv.messages, "nothing was submitted over an unverified connection")
    rc, out, err = send("--server", "localhost:%d" % srv.port, "--tls", "--ca", cert)
    check(rc == 0 and "queued as Q1D2E3" in out, "--tls with --ca verifies and submits", err)
    srv.close()


def test_wrong_name(tmp):
    ctx, cert = make_cert(tmp, "mail.example.net", "DNS:mail.example.net")
    srv = smtp_stub.SmtpSink(ctx, implicit=True)
    # Trusted (--ca) but issued for another name than the one we connect to.
    rc, _, err = send("--server", "localhost:%d" % srv.port, "--tls", "--ca", cert)
    check(rc != 0 and "mismatch" in err and "--ca FILE" in err,
          "a certificate for another name is rejected", err)
    check("(certificate subject /CN=mail.example.net, names mail.example.net)" in err,
          "the rejection names the certificate's subject and the names it carries", err)
    srv.close()


def test_full_submission(ctx, cert, tmp):
    srv = smtp_stub.SmtpSink(ctx, users={"alice": "s3cret pass"})
    attachment = os.path.join(tmp, "report.pdf")
    payload = bytes(range(256)) * 40
    with open(attachment, "wb") as f:
        f.write(payload)
    body = "Line one\n.leading dot\nGr\u00fc\u00dfe\n"
    stdin = b"s3cret pass\n" + body.encode()
    rc, out, err = send("--server", "localhost:%d" % srv.port, "--ca", cert, "--auth", "alice",
                        "--to", "carol@example.org", "--attach", attachment, "-v", stdin=stdin)
    check(rc == 0 and out.strip() == "queued as Q1D2E3", "full submission exits 0 with the queue id",
          out + err)
    check(len(srv.messages) == 1, "the sink received one message")
    if not srv.messages:
        return
    m = srv.messages[0]
    check(m["tls"] and m["auth"] == "alice", "STARTTLS then AUTH happened", str(m))
    check(m["rcpt"] == ["bob@example.org", "carol@example.org"], "both recipients", str(m["rcpt"]))
    check("BODY=8BITMIME" in m["mail_line"], "8-bit body uses BODY=8BITMIME", m["mail_line"])
    check("C: STARTTLS" in err and "S: 250" in err and "s3cret" not in err,
          "-v prints the dialogue without the password", err)
    msg = email.message_from_bytes(m["data"], policy=email.policy.default)
    for header in ("Date", "Message-ID", "From", "To", "Subject", "MIME-Version"):
        check(msg[header] is not None, "header %s present" % header)
    check(msg.get_content_type() == "multipart/mixed", "multipart message", msg.get_content_type())
    parts = list(msg.iter_parts()) if msg.is_multipart() else []
    check(len(parts) == 2, "text part + attachment")
    if len(parts) == 2:
        check(parts[0].get_content().replace("\r\n", "\n") == body, "body text round-trips",
              repr(parts[0].get_content()))
        check(parts[1].get_filename() == "report.pdf" and parts[1].get_content() == payload,
              "attachment round-trips (base64)")
    srv.close()


def test_ipv6_literal(ctx, cert):
    # --server "[v6]:port": resolved, connected and verified against the certificate's IP:::1.
    try:
        srv = smtp_stub.SmtpSink(ctx, host="::1")
    except OSError as e:
        print("SKIP the IPv6 check: no ::1 here (%s)" % e)
        return
    rc, out, err = send("--server", "[::1]:%d" % srv.port, "--ca", cert)
    check(rc == 0 and out.strip() == "queued as Q1D2E3" and len(srv.messages) == 1,
          "--server [::1]:PORT submits over IPv6 (STARTTLS, certificate IP ::1 verified)", out + err)
    srv.close()


def test_auth_needs_tls():
    srv = smtp_stub.SmtpSink(None, users={"alice": "pw"})
    rc, _, err = send("--server", "127.0.0.1:%d" % srv.port, "--auth", "alice", stdin=b"pw\nbody\n")
    check(rc != 0 and "refusing to send the password" in err, "no AUTH over plaintext", err)
    check(not any(c.upper().startswith("AUTH") for c in srv.commands), "the sink never saw AUTH",
          str(srv.commands))
    srv.close()


def test_smtp_errors(ctx, cert):
    srv = smtp_stub.SmtpSink(ctx, reject_rcpt={"bob@example.org"}, users={"alice": "pw"})
    rc, _, err = send("--server", "localhost:%d" % srv.port, "--ca", cert)
    check(rc != 0 and "550 5.1.1 <bob@example.org>: no such user here" in err,
          "a rejected recipient prints the server's reply line", err)
    rc, _, err = send("--server", "localhost:%d" % srv.port, "--ca", cert, "--auth", "alice",
                      stdin=b"wrong\nbody\n")
    check(rc != 0 and "535 5.7.8" in err and "alice" in err, "bad password prints the 535 line", err)
    rc, _, err = send("--server", "localhost:%d" % srv.port, "--ca", cert, "--tls")
    check(rc != 0 and "speaks plaintext SMTP" in err, "--tls on a STARTTLS port is diagnosed", err)
    srv.close()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ctx, cert = make_cert(tmp)
        test_refused()
        test_tls_to_plaintext()
        test_plaintext_to_tls(ctx)
        test_untrusted_certificate(ctx, cert)
        test_wrong_name(tmp)
        test_full_submission(ctx, cert, tmp)
        test_ipv6_literal(ctx, cert)
        test_auth_needs_tls()
        test_smtp_errors(ctx, cert)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
