"""Certificate credentials end to end: the daemon signs client assertions
(PS256 with x5t#S256, RS256 with x5t) that the simulator verifies against
the certificate of its scenario; a certificate the app does not know gives a
failing source with AADSTS700027 in status and log and no key material
anywhere; an expired client secret (AADSTS7000222) becomes source-unhealthy
with that reason.  The simulator's own checks are driven directly with
assertions signed by the openssl CLI."""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLIENT_ID, SCENARIOS, TENANT_ID, Env, check, finish, wait_for  # noqa: E402

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_cert(d, name, days=365):
    """A self-signed RSA certificate and key: NAME.pem (both, 0600), NAME.crt (certificate only)."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", str(days), "-subj", "/CN=smtpwatch-" + name], check=True, capture_output=True)
    pem = os.path.join(d, name + ".pem")
    with open(pem, "w") as f:
        f.write(open(crt).read() + open(key).read())
    os.chmod(pem, 0o600)
    der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return {"pem": pem, "key": key, "crt": crt, "x5t": b64url(hashlib.sha1(der).digest()),
            "x5t#S256": b64url(hashlib.sha256(der).digest()),
            "key_lines": [l for l in open(key).read().splitlines() if l and not l.startswith("-----")]}


def scenario_with(d, cert_path, name="scenario.json"):
    """foundation.json with the certificate registered for contoso."""
    sc = json.load(open(os.path.join(SCENARIOS, "foundation.json")))
    sc["tenants"][TENANT_ID]["certificate"] = os.path.basename(cert_path)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(sc, f)
    return path


def use_certificate(env, pem, alg):
    """Switch the tenant of env's config from the secret to the certificate."""
    conf = open(env.conf).read()
    conf = conf.replace("client_secret_file = %s\n" % env.secret,
                        "certificate_file = %s\nassertion_alg = %s\n" % (pem, alg))
    with open(env.conf, "w") as f:
        f.write(conf)


def no_key_material(text, certs):
    """No line of any private key, and nothing shaped like a JWT."""
    for c in certs:
        for line in c["key_lines"]:
            if line in text:
                return False
    return "eyJ" not in text and "PRIVATE KEY" not in text


def good_run(d, certs, alg):
    env = Env("cert-" + alg.lower(), scenario=scenario_with(d, certs["a"]["crt"]))
    try:
        use_certificate(env, certs["a"]["pem"], alg)
        rc = env.run_once()
        log = env.log_text()
        check(rc == 0, "%s: smtpwatchd --once authenticates with the certificate (exit %d)" % (alg, rc))
        st = env.sim.stats()
        check(st["tokens_issued"] >= 1, "%s: the simulator verified the assertion and issued %d token(s)"
              % (alg, st["tokens_issued"]))
        n = env.db().execute("SELECT count(*) FROM signins").fetchone()[0]
        check(n == 14, "%s: every sign-in of the scenario is stored (%d)" % (alg, n))
        check("thumbprint" in log and alg in log, "%s: the log names the certificate's thumbprint and alg" % alg)
        check(no_key_material(log, certs.values()), "%s: no key material or assertion in the log" % alg)
    finally:
        env.close()


def bad_cert(d, certs):
    # The app knows certificate a; the daemon holds b (another key).
    env = Env("cert-bad", scenario=scenario_with(d, certs["a"]["crt"]))
    try:
        use_certificate(env, certs["b"]["pem"], "PS256")
        env.start_daemon()
        src = wait_for(lambda: (env.source() or {}).get("last_error") and env.source(), timeout=30,
                       what="failing source")
        err = (src or {}).get("last_error") or ""
        check("AADSTS700027" in err, "a certificate the app does not know: last_error has AADSTS700027 (%s)"
              % err[:120])
        check((src or {}).get("last_success") is None, "and the source never succeeded")
        rc, out = env.ctl("status")
        check(rc == 0 and "AADSTS700027" in json.dumps(out), "smtpwatchctl --json status shows it")
        log = env.log_text()
        check("AADSTS700027" in log and "thumbprint" in log,
              "the log has AADSTS700027 and the certificate's thumbprint")
        check(no_key_material(log + json.dumps(out), certs.values()), "no key material or assertion in log or status")
        st = env.sim.stats()
        check(st["tokens_issued"] == 0, "no token was issued")
    finally:
        env.close()


def unreadable_cert(d, certs):
    # A PEM with only the certificate: the daemon says so instead of asking.
    only = os.path.join(d, "only-cert.pem")
    with open(only, "w") as f:
        f.write(open(certs["a"]["crt"]).read())
    os.chmod(only, 0o600)
    env = Env("cert-nokey", scenario=scenario_with(d, certs["a"]["crt"]))
    try:
        use_certificate(env, only, "RS256")
        env.start_daemon()
        src = wait_for(lambda: (env.source() or {}).get("last_error") and env.source(), timeout=30,
                       what="failing source")
        err = (src or {}).get("last_error") or ""
        check("no private key" in err and only in err, "a PEM without a key: last_error says so (%s)" % err[:120])
        check(env.sim.stats()["requests"]["token"] == 0, "and no token request was sent")
    finally:
        env.close()


def expired_secret():
    env = Env("secret-expired")
    try:
        env.sim.faults([{"endpoint": "token", "secret_expired": True, "count": -1}])
        env.start_daemon()
        src = wait_for(lambda: (env.source() or {}).get("last_error") and env.source(), timeout=30,
                       what="failing source")
        err = (src or {}).get("last_error") or ""
        check("AADSTS7000222" in err, "an expired client secret: last_error has AADSTS7000222 (%s)" % err[:100])

        def unhealthy():
            rc, out = env.ctl("alerts")
            if rc != 0:
                return None
            al = out if isinstance(out, list) else out.get("alerts", [])
            return [a for a in al if a.get("rule") == "source-unhealthy"]
        al = wait_for(unhealthy, timeout=20, what="source-unhealthy")
        check(bool(al) and "AADSTS7000222" in al[0].get("summary", ""),
              "it becomes source-unhealthy with that reason (%s)" % ((al or [{}])[0].get("summary", "")[:120]))
        check("sim-secret-contoso" not in env.log_text(), "no secret in the log")
    finally:
        env.close()


def remediation_cert_expiring(d):
    """The remediation app's own certificate (remediation_certificate_file)
    ends in 10 days: credential-expiring fires for that app, naming its key,
    while the reading app (a secret) raises nothing; remediation = off
    resolves it."""
    wcert = make_cert(d, "write", days=10)
    write_app = "7c1f0e2a-5b3d-4e6f-8a9b-0c1d2e3f4a5b"
    env = Env("cert-remediation", tenant_extra="remediation = manual\nremediation_client_id = %s\n"
              "remediation_certificate_file = %s\n" % (write_app, wcert["pem"]))
    try:
        env.start_daemon()

        def expiring():
            rc, out = env.ctl("alerts")
            al = (out if isinstance(out, list) else out.get("alerts", [])) if rc == 0 else []
            return [a for a in al if a.get("rule") == "credential-expiring"]
        al = wait_for(expiring, timeout=60, what="credential-expiring for the remediation app")
        a = (al or [{}])[0]
        check(len(al or []) == 1 and a.get("subject") == write_app,
              "credential-expiring fires once, for the remediation app (%s)" % [x.get("subject") for x in al or []])
        check("remediation certificate" in a.get("summary", "") and re.search(r"in (9|10) days", a.get("summary", "")),
              "its summary says it is the remediation certificate and the days left (%s)" % a.get("summary"))
        check(wcert["pem"] in (a.get("remediation") or "") and a.get("severity") == "medium",
              "and where to put the new one (%s)" % a.get("remediation"))
        conf = open(env.conf).read().replace("remediation = manual\n", "remediation = off\n")
        with open(env.conf, "w") as f:
            f.write(conf)
        env.ctl("reload")
        gone = wait_for(lambda: not expiring(), timeout=60, what="resolution after remediation = off")
        check(bool(gone), "remediation = off resolves it")
    finally:
        env.close()


def sign(payload_hdr, claims, key, alg):
    tbs = (b64url(json.dumps(payload_hdr).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    cmd = ["openssl", "dgst", "-sha256", "-sign", key]
    if alg == "PS256":
        cmd[3:3] = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
    sig = subprocess.run(cmd, input=tbs, capture_output=True, check=True).stdout
    return tbs.decode() + "." + b64url(sig)


def post_token(url, assertion):
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                   "scope": "https://graph.microsoft.com/.default",
                                   "client_assertion_type": JWT_BEARER, "client_assertion": assertion}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=form), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def simulator_checks(d, certs):
    env = Env("sim-assertion", scenario=scenario_with(d, certs["a"]["crt"]))
    try:
        url = "%s/%s/oauth2/v2.0/token" % (env.sim.url, TENANT_ID)
        a, b = certs["a"], certs["b"]
        now = int(time.time())
        good = {"aud": url, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": "0f4c3c6e-1f0e-4a53-9d0e-3f1b2a5c6d7e",
                "nbf": now, "exp": now + 600}
        ps = {"alg": "PS256", "typ": "JWT", "x5t#S256": a["x5t#S256"]}
        rs = {"alg": "RS256", "typ": "JWT", "x5t": a["x5t"]}
        cases = [
            ("PS256 signed by the certificate's key", ps, good, a["key"], "PS256", 200, None),
            ("RS256 signed by the certificate's key", rs, good, a["key"], "RS256", 200, None),
            ("signed by another key", ps, good, b["key"], "PS256", 401, "AADSTS700027: Client assertion failed "
             "signature validation"),
            ("RS256 signature labelled PS256", ps, good, a["key"], "RS256", 401, "failed signature validation"),
            ("an unregistered certificate", {"alg": "PS256", "typ": "JWT", "x5t#S256": b["x5t#S256"]}, good,
             b["key"], "PS256", 401, "AADSTS700027: The certificate with identifier used to sign the client "
             "assertion is not registered"),
            ("PS256 with only x5t", {"alg": "PS256", "typ": "JWT", "x5t": a["x5t"]}, good, a["key"], "PS256", 401,
             "AADSTS700027"),
            ("another audience", ps, dict(good, aud="https://login.microsoftonline.com/x/oauth2/v2.0/token"),
             a["key"], "PS256", 401, "invalid audience"),
            ("iss is not the client", ps, dict(good, iss="someone-else"), a["key"], "PS256", 401, "AADSTS700021"),
            ("sub is not the client", ps, dict(good, sub="someone-else"), a["key"], "PS256", 401, "AADSTS700021"),
            ("expired", ps, dict(good, nbf=now - 900, exp=now - 300), a["key"], "PS256", 401, "AADSTS700024"),
            ("a lifetime over 10 minutes", ps, dict(good, exp=now + 601), a["key"], "PS256", 401, "AADSTS700024"),
            ("HS256", {"alg": "HS256", "typ": "JWT", "x5t": a["x5t"]}, good, a["key"], "RS256", 401,
             "AADSTS5002738"),
        ]
        for what, hdr, claims, key, alg, want, text in cases:
            status, body = post_token(url, sign(hdr, claims, key, alg))
            desc = body.get("error_description", "")
            check(status == want and (text is None or text in desc) and
                  (want != 200 or body.get("token_type") == "Bearer"),
                  "simulator: %s -> %d %s (%d %s)" % (what, want, text or "token", status, desc[:90]))
        status, body = post_token(url, "not.a.jwt")
        check(status == 401 and "AADSTS50027" in body.get("error_description", ""),
              "simulator: a malformed assertion -> 401 AADSTS50027")
    finally:
        env.close()


def main():
    d = tempfile.mkdtemp(prefix="sw-certs-")
    certs = {"a": make_cert(d, "a"), "b": make_cert(d, "b")}
    simulator_checks(d, certs)
    for alg in ("PS256", "RS256"):
        good_run(d, certs, alg)
    bad_cert(d, certs)
    unreadable_cert(d, certs)
    expired_secret()
    remediation_cert_expiring(d)
    subprocess.run(["rm", "-rf", d])
    finish()


if __name__ == "__main__":
    main()
