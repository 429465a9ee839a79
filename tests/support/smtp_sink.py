#!/usr/bin/python3
"""A local SMTP sink for the notification tests (tests/support/smtp_sink.hpp).

Usage: smtp_sink.py DIR PORT [USER PASSWORD]

Listens on 127.0.0.1:PORT (0 = any free port) with Debian's python3-aiosmtpd
and writes each accepted message to DIR/<n>.eml (written to a temporary name,
then renamed, so a file that exists is whole), prefixed by two lines
"X-Sink-Mail-From: <...>" and "X-Sink-Rcpt-To: <...>" from the envelope.
The bound port goes to DIR/port the same way once it listens. With USER and
PASSWORD, AUTH (PLAIN, LOGIN) is offered without TLS and required.
"""

import asyncio
import itertools
import os
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        head = "X-Sink-Mail-From: <{}>\r\nX-Sink-Rcpt-To: {}\r\n".format(
            envelope.mail_from, ",".join("<{}>".format(r) for r in envelope.rcpt_tos))
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        n = next(self.counter)
        write_atomically(os.path.join(self.directory, "{:05d}.eml".format(n)),
                         head.encode("ascii") + content)
        return "250 OK"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok)
    return authenticate


async def main():
    directory, port = sys.argv[1], int(sys.argv[2])
    auth = authenticator_for(sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None
    handler = Handler(directory)

    def factory():
        if auth is None:
            return SMTP(handler)
        return SMTP(handler, authenticator=auth, auth_required=True, auth_require_tls=False)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    write_atomically(os.path.join(directory, "port"), str(bound).encode())
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
