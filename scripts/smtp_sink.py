"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the email connector's tests.

Usage: python smtp_sink.py PORT MAILBOX_FILE [USERNAME PASSWORD] [--starttls|--tls CERT KEY]

Every accepted message is appended to MAILBOX_FILE as one JSON line: {"mail_from",
"rcpt_tos", "data", "login"}. With USERNAME and PASSWORD, AUTH (PLAIN / LOGIN, allowed
without TLS on loopback) is required and only that pair is accepted. Recipients whose local
part starts with `refuse` get a permanent 550, with `busy` a transient 450, so tests can
prove how refusals are handled. With `--starttls CERT KEY` the server offers STARTTLS with that
certificate (PEM files) and requires it before MAIL; with `--tls CERT KEY` it speaks TLS from
the first byte (implicit TLS, as on port 465). Runs until stdin closes.
"""

import json
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, path):
        self.path = path

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("busy"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        line = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "login": login,
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        return "250 Message accepted for delivery"


def main():
    args = sys.argv[1:]
    tls_mode = None
    for mode in ("--starttls", "--tls"):
        if mode in args:
            at = args.index(mode)
            tls_mode, cert, key = mode, args[at + 1], args[at + 2]
            del args[at : at + 3]
    port = int(args[0])
    path = args[1]
    auth = args[2:4] if len(args) >= 4 else None
    tls = {}
    if tls_mode:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if tls_mode == "--starttls":
            tls = {"tls_context": context, "require_starttls": True}
        else:
            tls = {"ssl_context": context}

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            auth is not None
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == auth[0]
            and auth_data.password.decode() == auth[1]
        )
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    controller = Controller(
        Sink(path),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator if auth else None,
        auth_required=bool(auth),
        auth_require_tls=False,
        **tls,
    )
    controller.start()
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
