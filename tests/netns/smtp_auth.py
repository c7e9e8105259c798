#!/usr/bin/env python3
"""SMTP AUTH probe for the directory tests: STARTTLS (the CA verified), AUTH PLAIN, and prints
the AUTH reply as "CODE TEXT" on one line (235 accepted, 535 refused, 454 temporarily unavailable).
usage: smtp_auth.py HOST PORT CAFILE USER PASSWORD"""
import smtplib
import ssl
import sys


def main():
    host, port, cafile, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    context = ssl.create_default_context(cafile=cafile)
    with smtplib.SMTP(host, port, timeout=30) as s:
        s.ehlo("laptop.example.test")
        s.starttls(context=context)
        s.ehlo("laptop.example.test")
        try:
            code, text = s.login(user, password)
        except smtplib.SMTPResponseException as e:
            code, text = e.smtp_code, e.smtp_error
        print(code, text.decode(errors="replace") if isinstance(text, bytes) else text)


if __name__ == "__main__":
    main()
