"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the email connector's tests.

Usage: python smtp_sink.py PORT MAILBOX_FILE [USERNAME PASSWORD]

Every accepted message is appended to MAILBOX_FILE as one JSON line: {"mail_from",
"rcpt_tos", "data", "login"}. With USERNAME and PASSWORD, AUTH (PLAIN / LOGIN, allowed
without TLS on loopback) is required and only that pair is accepted. Recipients whose local
part starts with `refuse` get a permanent 550, with `busy` a transient 450, so tests can
prove how refusals are handled. Runs until stdin closes.
"""

import json
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
    port = int(sys.argv[1])
    path = sys.argv[2]
    auth = sys.argv[3:5] if len(sys.argv) >= 5 else None

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
    )
    controller.start()
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
