#!/usr/bin/env python3
"""Crash test: messages acknowledged with 250 survive `kill -9` of the server and are delivered
exactly once per recipient after a restart.
Phase A: delivery is impossible (each mailbox path is a plain file), so every acknowledged
message must still be in the spool after kill -9, and the restarted server delivers it.
Phase B: kill -9 lands while the queue runner is busy delivering; after the restart every
(message, recipient) pair has exactly one file, nothing else was delivered, and the spool is
empty.
"""
import os
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Server, maildir_queue_id, queue_id_of  # noqa: E402

RCPTS = ["r1@example.org", "r2@example.org", "r3@example.org"]


def send_many(server, count, connections=4):
    ids = []
    lock = threading.Lock()
    errors = []

    def worker(n):
        try:
            with smtplib.SMTP("127.0.0.1", server.ports["starttls"], timeout=20) as s:
                s.ehlo("crash.test")
                for i in range(n):
                    s.mail("crash@example.org")
                    for r in RCPTS:
                        reply = s.rcpt(r)
                        assert reply[0] == 250, reply
                    code, msg = s.data(b"Subject: crash %d\r\n\r\n%s" % (i, (b"x" * 70 + b"\r\n") * 30))
                    assert code == 250, (code, msg)
                    with lock:
                        ids.append(queue_id_of(msg))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(count // connections,))
               for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return ids


def wait_delivered(server, ids, timeout=20):
    want = set(ids)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all({maildir_queue_id(f) for f in server.files(r)} >= want for r in RCPTS) and not server.queue_files():
            return
        time.sleep(0.1)
    raise AssertionError("not all delivered: queue=%s" % server.queue_files()[:5])


def check_exactly_once(server, ids):
    want = sorted(ids)
    assert len(set(ids)) == len(ids), "duplicate queue ids"
    for r in RCPTS:
        got = sorted(maildir_queue_id(f) for f in server.files(r))
        assert got == want, "%s: %d files for %d messages" % (r, len(got), len(ids))
        tmp = os.path.join(server.dir, "maildir", r, "tmp")
        assert os.listdir(tmp) == [], "left-over tmp files in %s" % tmp


def phase_a(server):
    # Each recipient's mailbox path is a plain file: every delivery fails temporarily.
    maildir = os.path.join(server.dir, "maildir")
    os.makedirs(maildir, exist_ok=True)
    blockers = [os.path.join(maildir, r) for r in RCPTS]
    for path in blockers:
        with open(path, "w") as f:
            f.write("not a directory: deliveries fail temporarily\n")
    server.start()
    ids = send_many(server, 12)
    server.kill9()
    queued = [f for f in server.queue_files() if not f.endswith(".done")]
    assert sorted(queued) == sorted(ids), "acknowledged but not in the spool: %s" % (
        set(ids) - set(queued))
    for path in blockers:
        os.unlink(path)
    server.start()
    assert server.wait_log("queue_recovered"), "no recovery logged"
    wait_delivered(server, ids)
    check_exactly_once(server, ids)
    server.stop()
    return ids


def phase_b(server, earlier):
    server.start()
    ids = send_many(server, 40)
    server.kill9()  # at once: the runner is still delivering
    server.start()
    wait_delivered(server, earlier + ids)
    check_exactly_once(server, earlier + ids)
    server.stop()


def main():
    # The retry schedule survives restarts (docs/smtp-delivery.md): keep it short so the
    # deferred messages of phase A are due again within the test's wait.
    server = Server(extra_smtp='[smtp.queue]\nretry_min = "1s"\nretry_max = "2s"\n')
    runner = Runner()
    state = {}
    try:
        runner.run("crash_before_delivery", lambda: state.update(ids=phase_a(server)))
        runner.run("crash_during_delivery", lambda: phase_b(server, state.get("ids", [])))
    finally:
        if runner.failed:
            print("---- server log (tail) ----\n" + server.log()[-6000:])
        server.cleanup()
    runner.finish()


if __name__ == "__main__":
    main()
