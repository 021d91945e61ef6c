#!/usr/bin/env python3
"""System test of the systemd unit and the man pages, without systemd running:

- `systemd-analyze verify --man=no` passes on a copy of systemd/widgetd.service whose ExecStart is the
  built binary (verify wants the binary at its path);
- `systemd-analyze security --offline=true` rates the committed unit at 1.2 or lower;
- the unit has what the daemon relies on (Type=notify, the watchdog, reload by SIGHUP, no restart after
  exit 78, the man pages, credentials through LoadCredential=, no core dumps, /run read-only) and the
  watchdog outlasts the default HTTP timeouts twice over;
- widgetd(8) and widgetd.conf(5) render without warnings, widgetd(8) has its sections and every option
  of `widgetd --help`, and widgetd.conf(5) documents every key of conf/widgetd.conf in its section,
  with the default the example file gives.

Run as `python3 tests/system/test_systemd_unit.py --widgetd PATH --source-dir DIR` (ctest does); other
arguments are ignored. systemd-analyze (Debian package `systemd`) is required: without it the test
fails. `man` (man-db) and `mandoc` are used when installed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

MAX_EXPOSURE = 1.2
UNIT = "widgetd.service"
MAN8_SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "EXIT STATUS", "ENVIRONMENT",
                 "FILES", "LOGGING", "DEAD LETTERS", "EXAMPLES", "SEE ALSO")
AWS_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
           "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE",
           "CREDENTIALS_DIRECTORY")


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("ok   %s" % what)
        else:
            self.failed += 1
            print("FAIL %s%s" % (what, ("\n     " + detail.replace("\n", "\n     ")) if detail else ""))
        return ok

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)


def run(argv, **kw):
    """Runs a command with plain output (no colours, no pager, C locale); returns CompletedProcess."""
    env = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", PAGER="cat", MANPAGER="cat",
               LC_ALL="C.UTF-8", MANWIDTH="100")
    env.update(kw.pop("env", {}))
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          timeout=kw.pop("timeout", 120), **kw)


def parse_unit(text):
    """[section] -> list of (key, value), in order; comments and blank lines dropped."""
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        key, sep, value = line.partition("=")
        if sep and current is not None:
            current.append((key.strip(), value.strip()))
    return sections


def values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def one(sections, section, key):
    v = values(sections, section, key)
    return v[-1] if v else None


def seconds(value):
    """systemd time span ("60", "60s", "1min 30s", "500ms") -> seconds."""
    units = {"": 1, "s": 1, "sec": 1, "ms": 0.001, "msec": 0.001, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(num) * units[unit]
    return total


def example_keys(path):
    """conf/widgetd.conf -> list of (section, key, value, commented): every key, commented ones too."""
    keys, section = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            # "#[lease]": a section the example leaves off, its keys documented all the same.
            m = re.match(r"^[#;]?\[([a-z_]+)\]\s*$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^([#;]?)\s*([a-z0-9_]+)\s*=\s*(.*?)\s*$", line)
            if m and section:
                keys.append((section, m.group(2), m.group(3), bool(m.group(1))))
    return keys


def roff_text(src):
    """Roff source -> plain words for searching: escapes for -, quotes and fonts resolved."""
    text = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\%", "", src)
    text = text.replace("\\-", "-").replace("\\(aq", "'").replace("\\(dq", '"').replace("\\e", "\\")
    return re.sub(r"\\\((em|en|bu|ti|rs)", " ", text)


def man_sections(src):
    """Roff source -> {".SH name": body, ".SS name": body}, by heading."""
    out, name, body = {}, None, []
    for line in src.splitlines():
        m = re.match(r'^\.(SH|SS)\s+"?(.*?)"?\s*$', line)
        if m:
            if name:
                out[name] = "\n".join(body)
            name, body = "%s %s" % (m.group(1), m.group(2)), []
        elif name:
            body.append(line)
    if name:
        out[name] = "\n".join(body)
    return out


def tag_body(section_src, key):
    """The text of the .TP entry whose tag starts with key, up to the next .TP (or the end)."""
    lines = section_src.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".TP") and i + 1 < len(lines) and re.match(
                r"^\.(B|BI|BR|I|IR)\s+%s(\s|$)" % re.escape(key), lines[i + 1]):
            body = []
            for rest in lines[i + 1:]:
                if body and rest.startswith((".TP", ".SS", ".SH")):
                    break
                body.append(rest)
            return "\n".join(body)
    return None


def test_verify(c, args, unit_src):
    sa = shutil.which("systemd-analyze")
    if not c.check(sa is not None, "systemd-analyze is installed (Debian package: systemd)"):
        return
    widgetd = os.path.abspath(args.widgetd)
    if not c.check(os.access(widgetd, os.X_OK), "the widgetd binary %s is executable" % widgetd):
        return
    text, n = re.subn(r"^ExecStart=\S+", "ExecStart=" + widgetd, unit_src, flags=re.M)
    c.check(n == 1, "the unit has one ExecStart= line to point at the build", "found %d" % n)
    with tempfile.TemporaryDirectory(prefix="wdunit-") as d:
        path = os.path.join(d, UNIT)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = run([sa, "verify", "--man=no", path])
        out = (r.stdout + r.stderr).strip()
        ours = [ln for ln in out.splitlines() if UNIT in ln or d in ln or "widgetd" in ln]
        c.check(r.returncode == 0 and not ours, "systemd-analyze verify --man=no passes on the unit",
                "exit %d, output:\n%s" % (r.returncode, out))
        if out and not ours:
            print("     (systemd-analyze verify said, about other units: %s)" % out.replace("\n", " | "))


def test_security(c, args):
    sa = shutil.which("systemd-analyze")
    if sa is None:
        c.check(False, "systemd-analyze security (systemd-analyze is missing)")
        return
    unit = os.path.join(args.source_dir, "systemd", UNIT)
    r = run([sa, "security", "--offline=true", "--no-pager", unit])
    out = r.stdout + r.stderr
    m = re.search(r"Overall exposure level for %s:\s*([0-9]+(?:\.[0-9]+)?)\s*(\S+)" % re.escape(UNIT), out)
    if not c.check(m is not None, "systemd-analyze security --offline=true rates the unit",
                   "exit %d, output (end):\n%s" % (r.returncode, out[-2000:])):
        return
    level = float(m.group(1))
    exposed = [ln.strip() for ln in out.splitlines() if ln.lstrip().startswith("\u2717")]
    print("     overall exposure level %.1f %s; not restricted: %s" %
          (level, m.group(2), "; ".join(re.sub(r"\s{2,}", " ", e) for e in exposed) or "nothing"))
    c.check(level <= MAX_EXPOSURE, "exposure level %.1f <= %.1f" % (level, MAX_EXPOSURE),
            "\n".join(exposed))


def test_unit_settings(c, unit_src, example):
    u = parse_unit(unit_src)
    svc = "Service"
    c.check(one(u, svc, "Type") == "notify", "Type=notify", str(one(u, svc, "Type")))
    c.check(one(u, svc, "ExecStart") is not None and
            one(u, svc, "ExecStart").split()[0] == "/usr/bin/widgetd",
            "ExecStart=/usr/bin/widgetd (where the package installs it)", str(one(u, svc, "ExecStart")))
    reload_ = one(u, svc, "ExecReload") or ""
    c.check(re.search(r"kill\s+(-HUP|-s\s*HUP|-SIGHUP)\s+\$MAINPID", reload_) is not None,
            "ExecReload= sends SIGHUP to $MAINPID", reload_)
    wd = one(u, svc, "WatchdogSec")
    c.check(wd is not None and seconds(wd) > 0, "WatchdogSec= is set", str(wd))
    c.check(one(u, svc, "Restart") == "on-failure", "Restart=on-failure", str(one(u, svc, "Restart")))
    prevent = " ".join(values(u, svc, "RestartPreventExitStatus")).split()
    c.check("78" in prevent, "RestartPreventExitStatus=78 (no restart loop on a config error)",
            " ".join(prevent))
    docs = " ".join(values(u, "Unit", "Documentation")).split()
    c.check("man:widgetd(8)" in docs and "man:widgetd.conf(5)" in docs,
            "Documentation= names man:widgetd(8) and man:widgetd.conf(5)", " ".join(docs))
    creds = values(u, svc, "LoadCredential")
    c.check(any(v.startswith("aws-credentials:") or v == "aws-credentials" for v in creds),
            "LoadCredential= passes the credential aws-credentials (what widgetd reads)", str(creds))
    # systemd 252 fails the start (243/CREDENTIALS) when an absolute LoadCredential= path is missing;
    # a credential-store name is skipped when absent, so the credential stays optional.
    c.check(creds and not any(v.partition(":")[2].startswith("/") for v in creds),
            "LoadCredential= names a credential-store entry, not an absolute path (optional on 252)",
            str(creds))
    c.check(one(u, svc, "DynamicUser") == "yes" and one(u, svc, "PrivateUsers") == "yes",
            "DynamicUser=yes and PrivateUsers=yes")
    c.check(one(u, svc, "LimitCORE") in ("0", "0:0"), "LimitCORE=0 (a core dump would hold the credentials)",
            str(one(u, svc, "LimitCORE")))
    # ProtectKernelTunables= and friends imply MountAPIVFS=, whose /run entry keeps ProtectSystem=strict's
    # read-only remount off /run on systemd 252 (test_realsystemd checks it inside a booted systemd).
    ro = " ".join(values(u, svc, "ReadOnlyPaths")).split()
    c.check(one(u, svc, "ProtectSystem") == "strict" and "/run" in ro,
            "ProtectSystem=strict and ReadOnlyPaths=/run (MountAPIVFS= would leave /run writable)", str(ro))
    families = set(" ".join(values(u, svc, "RestrictAddressFamilies")).split())
    c.check(families == {"AF_UNIX", "AF_INET", "AF_INET6"},
            "RestrictAddressFamilies= is AF_UNIX AF_INET AF_INET6 (notify, journal, AWS)", str(families))
    # STYLE 14: every call is bounded well below half of WatchdogSec= with the default timeouts.
    defaults = {k: v for s, k, v, commented in example if s == "daemon" and commented}
    try:
        bound_s = (int(defaults["timeout_ms"]) + int(defaults["connect_timeout_ms"])) / 1000.0
    except (KeyError, ValueError):
        bound_s = None
    c.check(bound_s is not None and wd is not None and bound_s < seconds(wd) / 2,
            "timeout_ms + connect_timeout_ms defaults (%s s) are below half of WatchdogSec=%s" % (bound_s, wd))


def test_man_pages(c, args, example, widgetd):
    man8 = os.path.join(args.source_dir, "daemon", "widgetd.8")
    man5 = os.path.join(args.source_dir, "daemon", "widgetd.conf.5")
    srcs = {}
    for p in (man8, man5):
        if c.check(os.path.isfile(p), "%s exists" % os.path.relpath(p, args.source_dir)):
            with open(p, encoding="utf-8") as f:
                srcs[p] = f.read()
    man = shutil.which("man")
    mandoc = shutil.which("mandoc")
    for p in srcs:
        name = os.path.basename(p)
        if man:
            r = run([man, "--warnings", "-l", p])
            c.check(r.returncode == 0 and r.stderr.strip() == "" and len(r.stdout) > 500,
                    "man --warnings -l %s renders without warnings" % name,
                    "exit %d: %s" % (r.returncode, r.stderr.strip()))
        else:
            print("     (man is not installed: %s not rendered with man)" % name)
        if mandoc:
            r = run([mandoc, "-T", "lint", "-W", "warning", p])
            c.check(r.returncode == 0, "mandoc -T lint -W warning %s is clean" % name,
                    (r.stdout + r.stderr).strip())
    if man8 in srcs:
        src = srcs[man8]
        heads = man_sections(src)
        missing = [s for s in MAN8_SECTIONS if "SH " + s not in heads]
        c.check(not missing, "widgetd(8) has the sections %s" % ", ".join(MAN8_SECTIONS), str(missing))
        text = roff_text(src)
        exits = roff_text(heads.get("SH EXIT STATUS", ""))
        c.check(all(re.search(r"^\.B %s$" % n, exits, re.M) for n in ("0", "1", "75", "78")),
                "widgetd(8) EXIT STATUS lists 0, 1, 75 and 78")
        env = roff_text(heads.get("SH ENVIRONMENT", ""))
        c.check(all(v in env for v in AWS_ENV), "widgetd(8) ENVIRONMENT lists the AWS variables",
                str([v for v in AWS_ENV if v not in env]))
        sig = heads.get("SH SIGNALS", "")
        c.check(all(s in sig for s in ("SIGTERM", "SIGINT", "SIGHUP")), "widgetd(8) SIGNALS: TERM, INT, HUP")
        r = run([widgetd, "--help"])
        opts = set(re.findall(r"(?<![\w-])(--?[a-z][a-z_-]*)", r.stdout + r.stderr)) | {"--version"}
        undocumented = sorted(o for o in opts if o not in text)
        c.check(r.returncode == 0 and len(opts) > 3 and not undocumented,
                "widgetd(8) documents every option of widgetd --help",
                "exit %d; undocumented: %s" % (r.returncode, undocumented))
        c.check("widgetd.conf (5)" in src or "widgetd.conf(5)" in text, "widgetd(8) refers to widgetd.conf(5)")
    if man5 in srcs:
        heads = man_sections(srcs[man5])
        c.check(len(example) >= 10, "conf/widgetd.conf has keys to check (%d found)" % len(example))
        for section, key, value, commented in example:
            body = heads.get("SS [%s]" % section)
            entry = tag_body(body, key) if body is not None else None
            if not c.check(entry is not None, "widgetd.conf(5) documents [%s] %s" % (section, key)):
                continue
            entry_text = roff_text(entry)
            # A commented key in the example shows its default ("#workers = 32"): the page must agree.
            if commented and value:
                c.check(re.search(r"(?<![\w.])%s(?![\w])" % re.escape(value), entry_text) is not None,
                        "widgetd.conf(5) gives [%s] %s the example's default %s" % (section, key, value),
                        entry_text)
        text = roff_text(srcs[man5])
        c.check("198" in text, "widgetd.conf(5) states the 198-byte line limit")
        c.check("SH EXAMPLES" in heads, "widgetd.conf(5) has an example")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widgetd", required=True)
    ap.add_argument("--source-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    args, _ = ap.parse_known_args()
    args.source_dir = os.path.abspath(args.source_dir)
    c = Checks()
    try:
        with open(os.path.join(args.source_dir, "systemd", UNIT), encoding="utf-8") as f:
            unit_src = f.read()
        example = example_keys(os.path.join(args.source_dir, "conf", "widgetd.conf"))
        test_verify(c, args, unit_src)
        test_security(c, args)
        test_unit_settings(c, unit_src, example)
        test_man_pages(c, args, example, os.path.abspath(args.widgetd))
    except Exception:  # a crash of the test itself is a failure, shown whole
        c.check(False, "the test ran to its end", traceback.format_exc())
    c.finish()


if __name__ == "__main__":
    main()
