"""The Teams digest card as Teams draws it: 15 unregistered Basic senders
raise 15 alerts of one rule (more than digest_after = 10), the Teams sink
posts one digest card to the simulator's Teams stand-in, and that card is
rendered in real headless Chromium by Microsoft's Adaptive Cards JS
renderer (adaptivecards on npm, the version tests/node/package-lock.json
pins, installed there by scripts/deps).  The rendered DOM must hold the
card's table: its header row and one row per alert, each sender's
mailbox in it, and the count.

Skips (exit 77), saying why, only when Chromium is not installed or the
renderer is not in tests/node (scripts/deps without npm or the registry)."""

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import SCALE, Env, check, finish  # noqa: E402

RULE = "unapproved-basic-auth-submission"
N = 15
RENDERER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node", "node_modules", "adaptivecards",
                        "dist", "adaptivecards.min.js")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body><div id="card"></div>
<script src="adaptivecards.min.js"></script>
<script>
try {
  var card = new AdaptiveCards.AdaptiveCard();
  card.parse(%s, new AdaptiveCards.SerializationContext());
  var el = card.render();
  if (!el) throw new Error("render() returned nothing");
  document.getElementById("card").appendChild(el);
  document.body.setAttribute("data-rendered", "yes");
} catch (e) {
  document.body.setAttribute("data-error", String(e));
}
</script></body></html>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Dom(html.parser.HTMLParser):
    """The rendered DOM: each element with an ac-columnSet class opens a
    row, whose text is collected until the next row opens; the body's
    attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows = []
        self.body = {}
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if "ac-columnSet" in (a.get("class") or "").split():
            self.rows.append([])

    def handle_data(self, data):
        self.text.append(data)
        if self.rows:
            self.rows[-1].append(data)


def main():
    binary = chromium()
    if binary is None:
        print("skip: Chromium is not installed (scripts/deps installs chromium)")
        sys.exit(77)
    if not os.path.exists(RENDERER):
        print("skip: the Adaptive Cards renderer is not in tests/node (scripts/deps runs npm ci there)")
        sys.exit(77)
    env = Env("teams-card", sinks="")
    senders = ["copier%02d@contoso.com" % i for i in range(N)]
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-40m", "every": "10s", "count": N, "user": senders, "ip": "198.51.100.21",
         "country": "NL", "error_code": 0}])
    with open(env.conf, "a") as f:
        f.write("[sink teams]\ntype = teams\nurl = %s/hooks/teams/workflows/x\nrules = %s\n" % (env.sim.url, RULE))
    env.sim.request("POST", "/_sim/hooks/teams/status", {"status": 202, "body": ""})
    try:
        rc = env.run_once(timeout=120)
        check(rc == 0, "--once exits 0 (%s)" % rc)
        cards = [json.loads(h["body"])["attachments"][0]["content"] for h in env.sim.hooks("teams")]
        # The scenario's own unregistered sender raises one more.
        digest = [(c, int(m.group(1))) for c in cards for m in [re.search(r"(\d+) alerts: " + RULE, json.dumps(c))] if m]
        check(len(digest) == 1 and digest[0][1] >= N,
              "teams: one digest card for the %d+ alerts (%d cards)" % (N, len(cards)))
        if not digest:
            return
        card, count = digest[0]
        want_rows = len([b for b in card["body"] if b.get("type") == "ColumnSet"])

        work = os.path.join(env.dir, "render")
        os.makedirs(work)
        shutil.copy(RENDERER, os.path.join(work, "adaptivecards.min.js"))
        with open(os.path.join(work, "card.html"), "w") as f:
            f.write(PAGE % json.dumps(card).replace("</", "<\\/"))
        p = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--disable-extensions", "--user-data-dir=" + os.path.join(work, "profile"),
                            "--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom",
                            "file://" + os.path.join(work, "card.html")],
                           capture_output=True, timeout=120 * SCALE, env=dict(os.environ, HOME=work))
        if p.returncode != 0 and not p.stdout:
            print("skip: Chromium cannot start here (exit %d): %s" % (p.returncode, p.stderr[-300:]))
            sys.exit(77)
        dom = Dom()
        dom.feed(p.stdout.decode("utf-8", "replace"))
        check(dom.body.get("data-rendered") == "yes",
              "the renderer parsed and rendered the card (%s)" % dom.body.get("data-error"))
        rows = ["".join(r) for r in dom.rows]
        check(want_rows == min(20, count) + 1 and len(rows) == want_rows,
              "the rendered card has the table: a header row and one row per alert (%d rows of %d in the card)"
              % (len(rows), want_rows))
        missing = [s for s in senders if not any(s in r for r in rows)]
        check(not missing, "every sender's mailbox is in a rendered row (missing %s)" % missing[:3])
        text = "".join(dom.text)
        check("%d alerts: %s" % (count, RULE) in text, "the rendered card says how many alerts of which rule")
    finally:
        env.close()


if __name__ == "__main__":
    main()
    finish()
