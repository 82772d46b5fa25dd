"""Syslog over TLS (issue 21, finding 17): address = tls://HOST:PORT sends
RFC 5425 frames (octet counting over TLS) to a receiver whose certificate
is verified like https: against ca_file (or the system's CAs) and for the
host named in the address.  A certificate from another CA, or for another
host, is refused with a clear log line and the alert stays queued and is
retried.  Cleartext udp:// or tcp:// to another host is refused by
--check-config unless allow_cleartext = yes.

The CAs and the receiver's certificate are made here with openssl(1); the
receiver is Python's ssl module on loopback."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from harness import SMTPWATCHD, Env, check, finish, wait_for  # noqa: E402

RULE = "unapproved-basic-auth-submission"
TENANT = "contoso.onmicrosoft.com"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    """ca.pem (signs server.pem: SAN localhost and 127.0.0.1) and other-ca.pem (signs nothing we use)."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key", "-out", ca + ".pem",
                "-days", "2", "-subj", "/CN=smtpwatch test %s" % ca,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=d)


class TLSReceiver:
    """A syslog receiver over TLS: accepts connections, reads RFC 5425 frames."""

    def __init__(self, d, addr="127.0.0.1"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.frames, self.bad, self.handshake_errors, self.conns = [], [], [], 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        c.settimeout(30)
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.handshake_errors.append(str(e))
            c.close()
            return
        buf = b""
        try:
            while not self.stop:
                data = s.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    m = re.match(rb"([1-9][0-9]*) ", buf)
                    if not m:
                        if buf and not re.match(rb"[0-9]*$", buf[:10]):
                            self.bad.append(buf[:80])
                            buf = b""
                        break
                    n, start = int(m.group(1)), m.end()
                    if len(buf) < start + n:
                        break
                    self.frames.append(buf[start:start + n].decode("utf-8", "replace"))
                    buf = buf[start + n:]
        except (ssl.SSLError, OSError):
            pass
        finally:
            s.close()

    def close(self):
        self.stop = True
        self.sock.close()


def sink_status(env):
    s = env.status()
    return (s or {}).get("sinks", {}).get("tls") if s else None


def set_sink(env, address, ca_file):
    with open(env.conf) as f:
        conf = f.read()
    conf = re.sub(r"\[sink tls\].*", "", conf, flags=re.S)
    conf += "[sink tls]\ntype = syslog\naddress = %s\nfacility = authpriv\n%s" % (
        address, "ca_file = %s\n" % ca_file if ca_file else "")
    with open(env.conf, "w") as f:
        f.write(conf)


def frames_for(rx, subject):
    return [f for f in rx.frames if 'subject="%s"' % subject in f]


def test_delivery(env, rx):
    env.start_daemon()
    got = wait_for(lambda: frames_for(rx, "scanner2@contoso.com"), timeout=60, what="a frame over TLS")
    check(len(got) == 1, "the receiver got the alert over TLS, one RFC 5425 frame (%d)" % len(got))
    if got:
        check(re.match(r"^<(\d+)>1 \S+ \S+ smtpwatch - " + RULE + r" \[smtpwatch@0 ", got[0]) is not None,
              "the frame holds the RFC 5424 message, SD-ID smtpwatch@0 (%s)" % got[0][:90])
        check(int(got[0][1:got[0].index(">")]) == 10 * 8 + 3, "PRI is authpriv.err for a high alert")
    check(not rx.bad, "no bytes outside the octet-counted frames (%s)" % rx.bad[:1])
    st = sink_status(env)
    check(st and st["delivered"] >= 1 and st["queued"] == 0, "status: delivered, nothing queued (%s)" % st)


def test_refused(env, rx, address, ca, want, user, ip):
    """A certificate that does not verify: a clear line, queued, retried."""
    failed0 = (sink_status(env) or {}).get("failed", 0)
    set_sink(env, address, ca)
    rc, out = env.ctl("reload", json_out=False)
    check(rc == 0, "reload with %s (%s)" % (address, out.strip()))
    env.sim.add_signins(TENANT, [{"at": "-3m", "user": user, "ip": ip, "country": "NL", "error_code": 0,
                                  "count": 1}])
    env.ctl("poll")
    failed = wait_for(lambda: (sink_status(env) or {}).get("failed", 0) >= failed0 + 2 and sink_status(env), timeout=90,
                      what="two refused attempts")
    check(bool(failed), "the delivery is retried after the refusal (%s)" % sink_status(env))
    st = sink_status(env) or {}
    check(want in (st.get("last_error") or ""), "status: last error says why (%s)" % st.get("last_error"))
    check(st.get("queued", 0) >= 1, "status: the alert stays queued (%s)" % st)
    lines = [ln for ln in env.log_text().splitlines() if "sink tls" in ln and want in ln and "retrying in" in ln]
    check(bool(lines), "the log says why and when it retries (%s)" % (lines[:1] or env.log_text()[-600:]))
    check(not frames_for(rx, user), "nothing reached the receiver through the refused connection")


def test_check_config(env):
    conf = os.path.join(env.dir, "cleartext.conf")
    base = open(env.conf).read()
    base = re.sub(r"\[sink tls\].*", "", base, flags=re.S)
    for extra, want_rc, what in (
            ("address = udp://192.0.2.1:514\n", 1, "udp:// to another host is refused"),
            ("address = tcp://192.0.2.1:601\n", 1, "tcp:// to another host is refused"),
            ("address = udp://192.0.2.1:514\nallow_cleartext = yes\n", 0, "udp:// with allow_cleartext = yes passes"),
            ("address = udp://127.0.0.1:514\n", 0, "udp:// to this host passes"),
            ("address = tls://192.0.2.1:6514\n", 0, "tls:// to another host passes")):
        with open(conf, "w") as f:
            f.write(base + "[sink remote]\ntype = syslog\n" + extra)
        p = subprocess.run([SMTPWATCHD, "-c", conf, "--check-config"], capture_output=True, text=True, timeout=30)
        ok = (p.returncode == 0) == (want_rc == 0)
        if want_rc:
            ok = ok and "clear text" in p.stdout + p.stderr and "allow_cleartext" in p.stdout + p.stderr
        check(ok, "--check-config: %s (%d: %s)" % (what, p.returncode, (p.stdout + p.stderr).strip()[-200:]))


def main():
    if not shutil.which("openssl"):
        print("# skip: no openssl(1) to make the test CA")
        finish()
    env = Env("syslog-tls", sinks="")
    pki = os.path.join(env.dir, "pki")
    os.mkdir(pki)
    make_pki(pki)
    rx = TLSReceiver(pki)
    rx2 = None
    try:
        set_sink(env, "tls://127.0.0.1:%d" % rx.port, os.path.join(pki, "ca.pem"))
        test_delivery(env, rx)
        test_refused(env, rx, "tls://127.0.0.1:%d" % rx.port, os.path.join(pki, "other-ca.pem"),
                     "certificate verify failed", "wrongca@contoso.com", "198.51.100.31")
        # The right CA, the wrong name: the certificate is for localhost and 127.0.0.1.
        try:
            rx2 = TLSReceiver(pki, addr="127.0.0.2")
        except OSError as e:
            print("# skip the host name check: cannot listen on 127.0.0.2 (%s)" % e)
        if rx2 is not None:
            test_refused(env, rx2, "tls://127.0.0.2:%d" % rx2.port, os.path.join(pki, "ca.pem"),
                         "certificate verify failed: IP address mismatch", "wronghost@contoso.com", "198.51.100.32")
        # Back to the right receiver: the queued alerts arrive.
        set_sink(env, "tls://localhost:%d" % rx.port, os.path.join(pki, "ca.pem"))
        env.ctl("reload")
        got = wait_for(lambda: frames_for(rx, "wrongca@contoso.com"), timeout=150, what="the queued alert")
        check(len(got) >= 1, "once the CA is right the queued alert arrives (by the name localhost)")
        test_check_config(env)
    finally:
        rx.close()
        if rx2 is not None:
            rx2.close()
        env.close()


if __name__ == "__main__":
    main()
    finish()
