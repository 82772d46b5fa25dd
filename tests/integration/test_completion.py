"""bash completion for smtpwatchctl (issue 14, item 4): the real bash
sources completion/smtpwatchctl (with Debian's bash-completion loaded when
it is installed, and without it) and the test reads COMPREPLY for what an
operator types: command prefixes, options, --format values, and tenant
names from a running daemon (nothing, quietly, when none answers)."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import SMTPWATCHCTL, Env, check, finish  # noqa: E402

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
COMPLETION = os.path.join(SRC, "completion", "smtpwatchctl")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

# Set COMP_* as bash does for the command line "$*" with the cursor at its
# end, call the function `complete -p smtpwatchctl` names, print COMPREPLY.
DRIVER = r'''
[ -n "$SW_BC" ] && . "$SW_BC"
. "$SW_COMPLETION" || exit 90
spec=$(complete -p smtpwatchctl) || exit 91
fn=${spec#*-F }; fn=${fn%% *}
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(words, bc, path=None):
    """(candidates, stderr) for the words typed, the last one being completed."""
    env = dict(os.environ, SW_COMPLETION=COMPLETION, SW_BC=bc or "")
    if path:
        env["PATH"] = path + os.pathsep + env.get("PATH", "")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "bash", *words], capture_output=True,
                       text=True, timeout=60, env=env)
    if p.returncode != 0:
        check(False, "bash ran the completion for %r (%d: %s)" % (words, p.returncode, p.stderr.strip()))
    return sorted(w for w in p.stdout.split("\n") if w), p.stderr


def verbs():
    p = subprocess.run([SMTPWATCHCTL, "--help"], capture_output=True, text=True, timeout=60)
    lines = p.stdout.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return sorted(ln.split()[0] for ln in lines if ln.strip())


def cases(env, bc, daemon):
    mode = "with bash-completion" if bc else "plain bash"
    ctl = SMTPWATCHCTL
    sock = ["-s", env.socket]
    all_verbs = verbs()
    check(len(all_verbs) >= 10 and "status" in all_verbs, "smtpwatchctl --help lists the commands (%s)" % all_verbs)

    def want(words, expect, what):
        got, err = complete(words, bc)
        check(got == sorted(expect) and not err.strip(),
              "%s: %s -> %s (got %s%s)" % (mode, what, sorted(expect), got, ", stderr %r" % err if err else ""))

    if not daemon:
        want([ctl, "st"], ["status"], "'st' completes to status")
        want([ctl, ""], all_verbs, "an empty word offers every command of --help")
        want([ctl, "--j"], ["--json"], "'--j' completes to --json")
        want([ctl, *sock, "--json", "im"], ["import-report"], "a command after -s SOCKET --json")
        want([ctl, "report", "--format", ""], ["csv", "html", "json"], "report --format offers csv, html and json")
        want([ctl, "alerts", "--"], ["--after", "--all", "--help", "--json", "--limit", "--since"], "alerts' options")
        want([ctl, "silence", "r", "s", "--f"], ["--for"], "silence --for")
        want([ctl, *sock, "exceptions", "--tenant", ""], [], "--tenant with no daemon: nothing, quietly")
        want([ctl, "--ins"], ["--instance"], "'--ins' completes to --instance")
        want([ctl, "-i", "east", "--json", "st"], ["status"], "a command after -i NAME --json")
        # -i offers the instances that run: their /run/smtpwatch-NAME directories.
        name = "swcomp%d" % os.getpid()
        rundir = "/run/smtpwatch-%s" % name
        try:
            os.mkdir(rundir)
        except OSError as e:
            print("ok - -i NAME offers running instances # SKIP cannot create %s: %s" % (rundir, e))
        else:
            try:
                want([ctl, "-i", name[:-1]], [name], "-i offers the running instance %s" % name)
            finally:
                os.rmdir(rundir)
        got, err = complete(["smtpwatchctl", "re"], bc, path=os.path.dirname(ctl))
        check(got == ["reload", "remediate", "remediation", "report"] and not err.strip(),
              "%s: smtpwatchctl from PATH: 're' -> reload, remediate, remediation, report (got %s)" % (mode, got))
    else:
        want([ctl, *sock, "exceptions", "--tenant", ""], ["contoso"], "--tenant offers the daemon's tenants")
        want([ctl, *sock, "poll", "c"], ["contoso"], "poll TENANT from the daemon")
        want([ctl, *sock, "import-report", "con"], ["contoso"], "import-report TENANT from the daemon")
        want([ctl, *sock, "poll", "contoso", ""], [], "poll takes one tenant only")
        os.makedirs(os.path.join(env.dir, "exports"), exist_ok=True)
        csv = os.path.join(env.dir, "exports", "smtp-auth.csv")
        open(csv, "w").close()
        got, _ = complete([ctl, *sock, "import-report", "contoso", os.path.join(env.dir, "exports", "smtp")], bc)
        check(got == [csv], "%s: import-report TENANT completes the file (got %s)" % (mode, got))


def main():
    if shutil.which("bash") is None:
        print("ok - bash completion # SKIP bash is not installed")
        finish()
        return
    bcs = [None]
    if os.path.exists(BASH_COMPLETION):
        bcs.append(BASH_COMPLETION)
    else:
        print("# skipped: with bash-completion loaded: %s is missing (Debian: apt-get install bash-completion)"
              % BASH_COMPLETION)
    env = Env("completion")
    try:
        for bc in bcs:
            cases(env, bc, daemon=False)
        env.start_daemon()
        for bc in bcs:
            cases(env, bc, daemon=True)
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
