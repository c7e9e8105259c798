#!/usr/bin/env python3
"""SMTP integration tests against a real `postern server` with real clients (stdlib only):
smtplib (STARTTLS + AUTH, implicit TLS, auto mode both ways), a raw pipelined transaction,
openssl s_client -starttls smtp, swaks (--tls, --tlsc, --auth), byte-exact Maildir delivery
(8-bit and S/MIME-style bodies), STARTTLS command injection, SMTP smuggling, early talkers and
the wrong-mode diagnostics in the log. Each test prints PASS/FAIL; exit 1 if any failed.
"""
import base64
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DOMAIN, PASSWORD, USER, Runner, Server, Skip, client_context,  # noqa: E402
                     queue_id_of, strip_received, users_line)

CRLF = b"\r\n"


def send_and_get_id(smtp, sender, rcpts, body, **kw):
    """sendmail() hides the final reply; run the transaction by hand to learn the queue id."""
    code, _ = smtp.mail(sender, kw.get("mail_options", []))
    assert code == 250, code
    for r in rcpts:
        code, msg = smtp.rcpt(r)
        assert code == 250, (code, msg)
    code, msg = smtp.data(body)
    assert code == 250, (code, msg)
    return queue_id_of(msg)


def check_delivered(server, rcpt, qid, sent):
    """The Maildir file is the Received header followed by exactly the bytes sent."""
    data = server.delivered(rcpt, qid)
    header, rest = strip_received(data)
    assert b"mail.test" in header and qid.encode() in header, header
    expected = sent if sent.endswith(CRLF) else sent + CRLF
    assert rest == expected, "delivered body differs:\n%r\n!=\n%r" % (rest[:300], expected[:300])


def test_starttls_auth_sendmail(server):
    body = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: starttls\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["starttls"], timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        assert not s.has_extn("auth"), "AUTH must not be offered before TLS"
        s.starttls(context=client_context())
        s.ehlo("client.test")
        s.login(USER, PASSWORD)
        assert s.sendmail(USER, ["bob@example.org"], body) == {}
        qid = send_and_get_id(s, USER, ["bob@example.org", "carol@example.org"], body)
    check_delivered(server, "bob@example.org", qid, body)
    check_delivered(server, "carol@example.org", qid, body)


def test_bad_password_is_refused(server):
    with smtplib.SMTP("127.0.0.1", server.ports["starttls"], timeout=10) as s:
        s.starttls(context=client_context())
        started = time.time()
        try:
            s.login(USER, "wrong")
            raise AssertionError("login with a wrong password succeeded")
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535, e
        assert time.time() - started >= 0.18, "auth_failure_delay not applied"


def test_implicit_tls(server):
    body = b"Subject: implicit\r\n\r\nover SMTPS\r\n"
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["tls"], context=client_context(),
                          timeout=10) as s:
        s.login(USER, PASSWORD)
        qid = send_and_get_id(s, USER, ["bob@example.org"], body)
        assert s.sock.version() in ("TLSv1.3", "TLSv1.2")
    check_delivered(server, "bob@example.org", qid, body)


def test_auto_mode_tls_and_plain(server):
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["auto"], context=client_context(),
                          timeout=10) as s:
        code, _ = s.ehlo("tls.client")
        assert code == 250
        assert not s.has_extn("starttls"), "STARTTLS offered inside TLS"
    started = time.time()
    with smtplib.SMTP("127.0.0.1", server.ports["auto"], timeout=10) as s:
        assert time.time() - started >= 0.35, "plain greeting came before greeting_delay"
        s.ehlo("plain.client")
        assert s.has_extn("starttls")
        s.starttls(context=client_context())
        s.login(USER, PASSWORD)
        body = b"Subject: auto\r\n\r\nauto mode\r\n"
        qid = send_and_get_id(s, USER, ["dave@example.org"], body)
    check_delivered(server, "dave@example.org", qid, body)


def read_replies(sock, count, timeout=5):
    """Reads until `count` final reply lines ("ddd " lines) arrived; returns them."""
    sock.settimeout(timeout)
    data = b""
    while data.count(b"\r\n") < 1 or len(final_lines(data)) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return final_lines(data)


def final_lines(data):
    return [l for l in data.split(b"\r\n") if len(l) >= 4 and l[3:4] == b" "]


def test_pipelined_transaction(server):
    with socket.create_connection(("127.0.0.1", server.ports["starttls"]), timeout=10) as sock:
        assert read_replies(sock, 1)[0].startswith(b"220")
        # 127.0.0.0/8 is a trusted network in this config: no AUTH needed.
        sock.sendall(b"EHLO pipe.test\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<erin@example.org>\r\n"
                     b"RCPT TO:<frank@example.org>\r\nDATA\r\n")
        replies = read_replies(sock, 5)
        assert [r[:3] for r in replies] == [b"250", b"250", b"250", b"250", b"354"], replies
        body = b"Subject: pipelined\r\n\r\n..leading dot\r\nend\r\n"
        sock.sendall(body + b".\r\nQUIT\r\n")
        replies = read_replies(sock, 2)
        assert replies[0].startswith(b"250"), replies
        assert replies[1].startswith(b"221"), replies
    qid = queue_id_of(replies[0])
    unstuffed = body.replace(b"\r\n..", b"\r\n.")
    check_delivered(server, "erin@example.org", qid, unstuffed)
    check_delivered(server, "frank@example.org", qid, unstuffed)


def test_8bit_and_smime_bodies_byte_exact(server):
    eight_bit = ("Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\nCaf\u00e9 cr\u00e8me br\u00fbl\u00e9e "
                 "\u2603\r\n.\r\n..\r\n . \r\n\r\nlast line without dot\r\n").encode("utf-8")
    smime = (b'MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol="application/pkcs7-'
             b'signature"; micalg=sha-256; boundary="----B0UNDARY"\r\n\r\n'
             b"This is an S/MIME signed message\r\n\r\n------B0UNDARY\r\n"
             b"Content-Type: text/plain\r\n\r\nsigned text\r\n.hidden dot line\r\n\r\n"
             b"------B0UNDARY\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n"
             + b"\r\n".join([b"MIIGlgYJKoZIhvcNAQcCoIIGhzCCBoMCAQExDzANBglghkgBZQMEAgEFADALBgkq"] * 12)
             + b"\r\n\r\n------B0UNDARY--\r\n")
    with smtplib.SMTP("127.0.0.1", server.ports["starttls"], timeout=10) as s:
        s.starttls(context=client_context())
        s.login(USER, PASSWORD)
        q1 = send_and_get_id(s, USER, ["gina@example.org"], eight_bit, mail_options=["BODY=8BITMIME"])
        q2 = send_and_get_id(s, USER, ["gina@example.org"], smime)
    check_delivered(server, "gina@example.org", q1, eight_bit)
    check_delivered(server, "gina@example.org", q2, smime)


def test_openssl_s_client_starttls(server):
    if shutil.which("openssl") is None:
        raise Skip("openssl not installed")
    out = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % server.ports["starttls"],
         "-starttls", "smtp", "-crlf", "-quiet"],
        input=b"EHLO sclient.test\nQUIT\n", capture_output=True, timeout=20)
    text = out.stdout.decode(errors="replace")
    assert "250-mail.test" in text or "250 mail.test" in text, text + out.stderr.decode()
    assert "221" in text, text
    # TLS 1.1 must be refused (TLS 1.2 minimum).
    old = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % server.ports["tls"], "-tls1_1"],
        input=b"", capture_output=True, timeout=20)
    assert old.returncode != 0, "a TLS 1.1 handshake succeeded"


def swaks(server, *args):
    if shutil.which("swaks") is None:
        raise Skip("swaks not installed")
    cmd = ["swaks", "--server", "127.0.0.1", "--from", USER, "--auth", "PLAIN",
           "--auth-user", USER, "--auth-password", PASSWORD, "--timeout", "20"] + list(args)
    out = subprocess.run(cmd, capture_output=True, timeout=60)
    text = out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")
    if "TLS not available" in text:
        raise Skip("swaks lacks TLS support (install libnet-ssleay-perl)")
    assert out.returncode == 0, text
    return text


def test_swaks(server):
    text = swaks(server, "--port", str(server.ports["starttls"]), "--tls",
                 "--to", "swaks@example.org", "--header", "Subject: swaks starttls")
    assert "queued as" in text, text
    text = swaks(server, "--port", str(server.ports["tls"]), "--tlsc",
                 "--to", "swaks@example.org", "--header", "Subject: swaks tlsc")
    assert "queued as" in text, text
    text = swaks(server, "--port", str(server.ports["auto"]), "--tlsc",
                 "--to", "swaks@example.org", "--header", "Subject: swaks auto")
    deadline = time.time() + 5
    while len(server.files("swaks@example.org")) < 3 and time.time() < deadline:
        time.sleep(0.05)
    assert len(server.files("swaks@example.org")) == 3, server.files("swaks@example.org")


def test_starttls_injection(server):
    """RFC 3207 5 / CVE-2011-0411: plaintext pipelined after STARTTLS must not be executed."""
    raw = socket.create_connection(("127.0.0.1", server.ports["starttls"]), timeout=10)
    assert read_replies(raw, 1)[0].startswith(b"220")
    raw.sendall(b"EHLO inject.test\r\n")
    read_replies(raw, 1)
    raw.sendall(b"STARTTLS\r\nRSET\r\n")  # one packet
    raw.settimeout(5)
    first = raw.recv(4096)
    if first.startswith(b"554"):
        # Refusing the whole connection is safe too, as long as RSET got no reply of its own.
        assert first.count(b"\r\n") == 1, first
        assert server.wait_log("starttls_injection"), "injection not logged"
        raw.close()
        return
    assert first.startswith(b"220"), first
    assert first.count(b"\r\n") == 1, "a reply to the injected RSET leaked in plaintext: %r" % first
    try:
        tls = client_context().wrap_socket(raw, server_hostname="mail.test")
    except (ssl.SSLError, OSError):
        return  # refusing the connection is also safe: nothing was executed
    tls.settimeout(5)
    try:
        tls.sendall(b"NOOP\r\n")
        data = tls.recv(4096)
    except (ssl.SSLError, OSError):
        data = b""
    # The first reply inside TLS must answer our NOOP, not the injected RSET; a close is fine.
    if data:
        assert data.startswith(b"250") and len(final_lines(data)) == 1, data
    tls.close()
    assert server.wait_log("starttls_injection"), "injection not logged"


SMUGGLING_VARIANTS = [b"\n.\r\n", b"\r.\r\n", b"\n.\n", b"\r\n.\n", b"\r\n.\r", b"\r\n\x00.\r\n"]


def test_smuggling(server):
    for n, terminator in enumerate(SMUGGLING_VARIANTS):
        victim = "smuggled%d@example.org" % n
        with socket.create_connection(("127.0.0.1", server.ports["starttls"]), timeout=10) as sock:
            read_replies(sock, 1)
            sock.sendall(b"EHLO smuggle.test\r\nMAIL FROM:<a@example.org>\r\n"
                         b"RCPT TO:<outer%d@example.org>\r\nDATA\r\n" % n)
            replies = read_replies(sock, 4)
            assert replies[-1].startswith(b"354"), replies
            payload = (b"Subject: outer\r\n\r\nouter body" + terminator +
                       b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<" + victim.encode() +
                       b">\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
            sock.sendall(payload)
            sock.sendall(b"\r\n.\r\nQUIT\r\n")
            sock.settimeout(5)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
        time.sleep(0.2)
        assert server.files(victim) == [], "variant %r delivered a smuggled message" % terminator


def test_early_talker_and_wrong_modes(server):
    with socket.create_connection(("127.0.0.1", server.ports["auto"]), timeout=10) as sock:
        sock.sendall(b"EHLO too.early\r\n")
        reply = read_replies(sock, 1)
        assert reply and reply[0].startswith(b"554"), reply
    assert server.wait_log("early_talker")

    try:
        smtplib.SMTP_SSL("127.0.0.1", server.ports["starttls"], context=client_context(),
                         timeout=5).quit()
        raise AssertionError("implicit TLS on a STARTTLS port worked")
    except (ssl.SSLError, OSError, smtplib.SMTPException):
        pass
    assert server.wait_log("client started TLS on a STARTTLS port"), server.log()[-2000:]
    assert server.wait_log("set the client to STARTTLS")

    with socket.create_connection(("127.0.0.1", server.ports["tls"]), timeout=10) as sock:
        sock.sendall(b"EHLO plain.on.tls\r\n")
        sock.settimeout(5)
        try:
            sock.recv(100)
        except OSError:
            pass
    assert server.wait_log("plaintext on an implicit-TLS port"), server.log()[-2000:]

    # A real STARTTLS client (smtplib) on the implicit-TLS port waits for a greeting: after
    # greeting_delay it is told, in the reply its user sees, and the log says which case it was.
    try:
        smtplib.SMTP("127.0.0.1", server.ports["tls"], timeout=5).quit()
        raise AssertionError("plaintext SMTP on an implicit-TLS port was greeted")
    except smtplib.SMTPConnectError as e:
        assert e.smtp_code == 554, e
        assert b"this port speaks implicit TLS from the first byte" in e.smtp_error, e
    assert server.wait_log("client waits for a plaintext greeting on an implicit-TLS port"), \
        server.log()[-2000:]


def test_relay_refused_without_auth(server):
    # Only domains in `domains` are accepted; others would make us an open relay.
    with smtplib.SMTP("127.0.0.1", server.ports["starttls"], timeout=10) as s:
        s.ehlo("relay.test")
        s.mail("x@example.org")
        code, _ = s.rcpt("victim@elsewhere.test")
        assert code in (550, 554, 551, 553), code


def test_timeouts_plain_and_tls(server):
    with socket.create_connection(("127.0.0.1", server.ports["starttls"]), timeout=10) as sock:
        assert read_replies(sock, 1)[0].startswith(b"220")
        started = time.time()
        reply = read_replies(sock, 1, timeout=6)
        assert reply and reply[0].startswith(b"421"), reply
        assert 1.5 < time.time() - started < 5, time.time() - started
    with client_context().wrap_socket(
            socket.create_connection(("127.0.0.1", server.ports["tls"]), timeout=10),
            server_hostname="mail.test") as tls:
        assert read_replies(tls, 1)[0].startswith(b"220")
        reply = read_replies(tls, 1, timeout=6)
        assert reply and reply[0].startswith(b"421"), reply
    # Silent on the implicit-TLS port: no ClientHello comes within greeting_delay; the server
    # says why and hangs up.
    with socket.create_connection(("127.0.0.1", server.ports["tls"]), timeout=10) as sock:
        sock.settimeout(6)
        reply = read_replies(sock, 1, timeout=6)
        assert reply and reply[0].startswith(b"554 5.7.0"), reply
        assert sock.recv(100) == b""


def test_connection_limit_per_ip(server):
    held = []
    try:
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", server.ports["starttls"]), timeout=10)
            assert read_replies(s, 1)[0].startswith(b"220")
            held.append(s)
        with socket.create_connection(("127.0.0.1", server.ports["starttls"]), timeout=10) as s:
            reply = read_replies(s, 1)
            assert reply and reply[0].startswith(b"421 4.7.0"), reply
    finally:
        for s in held:
            s.close()
    assert server.wait_log("connect_refused")


def auth_plain(smtp, user, password):
    """One AUTH PLAIN attempt (smtplib.login() would retry with other mechanisms)."""
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    return smtp.docmd("AUTH", "PLAIN " + token)


def tls_session(port, source):
    s = smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0))
    s.starttls(context=client_context())
    s.ehlo("client.test")
    return s


def test_sighup_reloads_users(server):
    """A user added to the users file while the server runs may AUTH after SIGHUP."""
    with open(os.path.join(server.dir, "users"), "a") as f:
        f.write(users_line("dave@example.org", "dave's new password"))
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log("reloaded users=2")
    with smtplib.SMTP("127.0.0.1", server.ports["starttls"], timeout=10) as s:
        s.starttls(context=client_context())
        s.login("dave@example.org", "dave's new password")


def test_auth_throttle_per_source(_server):
    """RFC 4954 6: ten failures from one address lock it out (454 4.7.0, no scrypt run), with
    growing delays; another address is unaffected. Own server: a 5 ms auth_failure_delay keeps
    the doubling delays short (5, 10, 20, then 40 ms) and the lockout away from other tests."""
    fast = Server()
    with open(fast.config) as f:
        text = f.read()
    with open(fast.config, "w") as f:
        f.write(text.replace('auth_failure_delay = "200ms"', 'auth_failure_delay = "5ms"'))
    fast.start()
    try:
        port = fast.ports["starttls"]
        started = time.time()
        s = tls_session(port, "127.0.0.9")
        for attempt in range(10):
            code, msg = auth_plain(s, USER, "wrong %d" % attempt)
            if code == 421:  # too many errors on one connection: carry on in a new one
                s.close()
                s = tls_session(port, "127.0.0.9")
                code, msg = auth_plain(s, USER, "wrong %d" % attempt)
            assert code == 535, (attempt, code, msg)
        elapsed = time.time() - started
        # 5+10+20+40*7 ms of throttle delays; a flat auth_failure_delay would give 50 ms.
        assert elapsed >= 0.3, "throttle delays not applied: %.3fs" % elapsed
        s.close()
        s = tls_session(port, "127.0.0.9")
        code, msg = auth_plain(s, USER, PASSWORD)  # even the right password
        assert code == 454 and msg.startswith(b"4.7.0"), (code, msg)
        s.close()
        assert fast.wait_log("auth_locked_out"), "lockout not logged"
        other = tls_session(port, "127.0.0.10")
        code, msg = auth_plain(other, USER, PASSWORD)
        assert code == 235, (code, msg)
        other.quit()
    finally:
        if fast.proc and fast.proc.poll() is not None:
            print(fast.log()[-3000:])
        fast.cleanup()


def main():
    server = Server().start()
    runner = Runner()
    try:
        for name, fn in [
            ("starttls_auth_sendmail", test_starttls_auth_sendmail),
            ("bad_password_is_refused", test_bad_password_is_refused),
            ("implicit_tls", test_implicit_tls),
            ("auto_mode_tls_and_plain", test_auto_mode_tls_and_plain),
            ("pipelined_transaction", test_pipelined_transaction),
            ("8bit_and_smime_bodies_byte_exact", test_8bit_and_smime_bodies_byte_exact),
            ("openssl_s_client_starttls", test_openssl_s_client_starttls),
            ("swaks", test_swaks),
            ("starttls_injection", test_starttls_injection),
            ("smuggling", test_smuggling),
            ("early_talker_and_wrong_modes", test_early_talker_and_wrong_modes),
            ("relay_refused_without_auth", test_relay_refused_without_auth),
            ("timeouts_plain_and_tls", test_timeouts_plain_and_tls),
            ("connection_limit_per_ip", test_connection_limit_per_ip),
            ("sighup_reloads_users", test_sighup_reloads_users),
            ("auth_throttle_per_source", test_auth_throttle_per_source),
        ]:
            runner.run(name, fn, server)
    finally:
        if runner.failed:
            print("---- server log (tail) ----\n" + server.log()[-6000:])
        server.cleanup()
    runner.finish()


if __name__ == "__main__":
    main()
