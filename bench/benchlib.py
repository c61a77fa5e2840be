#!/usr/bin/env python3
"""Helpers for bench/run.sh, one subcommand each.

  state-server              in-memory Terraform `http` state backend on 127.0.0.1 (port on stdout)
  handshake OUT LABEL BIN…  time exec -> go-plugin handshake line of a provider binary, N times
  tflog OUT LABEL LOG…      per-launch timings from Terraform TF_LOG=trace files
  report RESULTS_DIR        the Markdown tables, from the raw figures run.sh recorded

Why Python: the standard library has an HTTP server, monotonic clocks and /proc access, so the
benchmark needs nothing installed beyond what the machine image carries. Every raw figure is
appended to a TSV file first and only summarised at the end, so a broken run still leaves data.
"""

import http.server
import os
import re
import signal
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime

# ---------------------------------------------------------------------------------------------
# state-server


class _StateStore:
    def __init__(self):
        self.lock = threading.Lock()
        self.states = {}


class _StateHandler(http.server.BaseHTTPRequestHandler):
    # Keep-alive: Terraform's HTTP client reuses its connection between state reads and writes.
    protocol_version = "HTTP/1.1"
    store = _StateStore()

    def log_message(self, fmt, *args):  # quiet: one line per request would dominate the output
        pass

    def _name(self):
        path = self.path.split("?", 1)[0]
        if not path.startswith("/state/") or len(path) <= len("/state/"):
            return None
        return path[len("/state/"):]

    def _reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        name = self._name()
        if name is None:
            return self._reply(404)
        with self.store.lock:
            data = self.store.states.get(name)
        # 404 tells Terraform's http backend "no state yet".
        self._reply(200, data) if data is not None else self._reply(404)

    def do_POST(self):
        name = self._name()
        body = self._body()
        if name is None:
            return self._reply(404)
        with self.store.lock:
            self.store.states[name] = body
        self._reply(200)

    def do_DELETE(self):
        name = self._name()
        if name is None:
            return self._reply(404)
        with self.store.lock:
            self.store.states.pop(name, None)
        self._reply(200)

    # Only used if a workspace configures lock_address; run.sh does not, so these are no-ops.
    def do_LOCK(self):
        self._body()
        self._reply(200)

    def do_UNLOCK(self):
        self._body()
        self._reply(200)


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def state_server(_args):
    server = _ThreadingServer(("127.0.0.1", 0), _StateHandler)
    print(f"state server listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


# ---------------------------------------------------------------------------------------------
# handshake


def _rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def handshake(args):
    """OUT LABEL RUNS CERT_PEM_FILE|- BIN [ARGS…]: appends `LABEL run ms rss_kib` lines to OUT."""
    out, label, runs, cert_file, *cmd = args
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "PLUGIN_"))}
    env.update(
        TF_PLUGIN_MAGIC_COOKIE="d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        PLUGIN_PROTOCOL_VERSIONS="5,6",
        PLUGIN_MIN_PORT="10000",
        PLUGIN_MAX_PORT="25000",
    )
    if cert_file != "-":
        # With a client certificate the provider does AutoMTLS set-up (key + certificate) before
        # its handshake, exactly as under Terraform.
        with open(cert_file) as f:
            env["PLUGIN_CLIENT_CERT"] = f.read()
    with open(out, "a") as sink:
        for run in range(1, int(runs) + 1):
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            line = p.stdout.readline()
            ms = (time.perf_counter() - t0) * 1000.0
            rss = _rss_kib(p.pid)
            p.kill()
            p.wait()
            p.stdout.close()
            if not line:
                sys.exit(f"{label}: no handshake line from {cmd[0]}")
            sink.write(f"{label}\t{run}\t{ms:.3f}\t{rss}\n")


# ---------------------------------------------------------------------------------------------
# tflog

_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)")


def _ts(line):
    m = _TS.match(line)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def tflog(args):
    """OUT LABEL LOG…: appends `LABEL metric ms` lines, one per provider launch and metric.

    Metrics, all as Terraform's own log timestamps (millisecond resolution) show them:
      to_handshake   "starting plugin" -> "using plugin" (fork/exec, start-up, handshake line)
      close_to_exit  "GRPCProvider…: Close" -> "plugin process exited" (Shutdown RPC, exit, reap)
      launch         "starting plugin" -> "plugin exited" (the whole life of one launch)
    and, once per log (one Terraform command), what Terraform spends on its own side before any
    plugin process exists:
      lock_check     the installed package found ("candidate package") -> the next log line:
                     Terraform hashes the provider's package to check it against the lock file
      mtls_total     "configuring client automatic mTLS" -> "starting plugin", summed over the
                     command's launches: Terraform making a fresh client key and certificate
      launches       how many times the command started the provider
    Launches are serial within one Terraform command, so events pair up in order.
    """
    out, label, *logs = args
    rows = []
    for log in logs:
        start = using = close = mtls = candidate = None
        mtls_total, launches = 0.0, 0
        with open(log, errors="replace") as f:
            for line in f:
                t = _ts(line)
                if t is None:
                    continue
                if candidate is not None and "candidate package" not in line:
                    rows.append(("lock_check", (t - candidate) * 1000))
                    candidate = None
                if "providercache.fillMetaCache: including" in line and "candidate package" in line:
                    candidate = t
                elif "provider: configuring client automatic mTLS" in line:
                    mtls = t
                elif "provider: starting plugin:" in line:
                    start, using, close = t, None, None
                    launches += 1
                    if mtls is not None:
                        mtls_total += (t - mtls) * 1000
                        mtls = None
                elif "provider: using plugin:" in line and start is not None:
                    using = t
                    rows.append(("to_handshake", (using - start) * 1000))
                elif re.search(r"GRPCProvider(\.v6)?: Close$", line.rstrip()):
                    close = t
                elif "provider: plugin process exited:" in line and close is not None:
                    rows.append(("close_to_exit", (t - close) * 1000))
                    close = None
                elif "provider: plugin exited" in line and start is not None:
                    rows.append(("launch", (t - start) * 1000))
                    start = None
        rows.append(("mtls_total", mtls_total))
        rows.append(("launches", float(launches)))
    with open(out, "a") as sink:
        for metric, ms in rows:
            sink.write(f"{label}\t{metric}\t{ms:.1f}\n")


# ---------------------------------------------------------------------------------------------
# report

PEERS = ("floor", "go", "us")
PEER_NAMES = {"floor": "terraform_data (floor)", "go": "null (Go peer)", "us": "alloy_user (us)"}


def _read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def _median(xs):
    return statistics.median(xs) if xs else None


def _fmt_s(x):
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def _ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


def report(args):
    d = args[0]
    lines = []
    say = lines.append
    meta = dict(r[:2] for r in _read_tsv(os.path.join(d, "meta.tsv")) if len(r) >= 2)

    # Command timings: section, peer, n, cmd, run, seconds.
    times = defaultdict(list)
    by_run = defaultdict(dict)
    for row in _read_tsv(os.path.join(d, "times.tsv")):
        section, peer, n, cmd, run, secs = row
        times[(section, peer, int(n), cmd)].append(float(secs))
        by_run[(section, peer, int(n), cmd)][run] = float(secs)

    def med(section, peer, n, cmd):
        return _median(times.get((section, peer, n, cmd), []))

    def paired(section, n, cmd, num, den, add=0.0):
        """Median over rounds of num/(den + add), each round's two figures taken minutes apart at
        most: slow drifts in the machine's load cancel out, unlike in a ratio of medians."""
        a, b = by_run.get((section, num, n, cmd), {}), by_run.get((section, den, n, cmd), {})
        return _median([a[r] / (b[r] + add) for r in a if r in b and b[r] + add > 0])

    say(f"Machine: {meta.get('machine', '?')}; {meta.get('terraform', '?')}; mode {meta.get('mode', '?')}; "
        f"started {meta.get('started', '?')}, took {meta.get('took', '?')}.")
    say("")
    say("### Terraform commands (wall seconds, median of the runs)")
    say("")
    say("Ratios: median over rounds of the ratio within each round (peers run back to back in a round); "
        "in brackets, the ratio of the medians shown.")
    say("")
    say("| work | backend | runs | floor | Go peer | us | us/floor | us/Go |")
    say("|---|---|---|---|---|---|---|---|")
    rows = [("small", 1, "validate", "`validate`, 1 resource"),
            ("small", 1, "plan", "no-change `plan`, 1 resource")]
    ns = sorted({k[2] for k in times if k[0] == "scale"})
    for n in ns:
        for cmd, what in (("apply", "`apply`"), ("plan", "no-change `plan`"), ("destroy", "`destroy`")):
            rows.append(("scale", n, cmd, f"{what} {n}"))
    for section, n, cmd, what in rows:
        m = {p: med(section, p, n, cmd) for p in PEERS}
        if all(v is None for v in m.values()):
            continue
        runs = min(len(times.get((section, p, n, cmd), [])) for p in PEERS)
        backend = "local" if section == "small" or n < 1000 else "http"
        pf, pg = paired(section, n, cmd, "us", "floor"), paired(section, n, cmd, "us", "go")
        say(f"| {what} | {backend} | {runs} | {_fmt_s(m['floor'])} | {_fmt_s(m['go'])} | {_fmt_s(m['us'])} "
            f"| {_pr(pf)} ({_ratio(m['us'], m['floor'])}) | {_pr(pg)} ({_ratio(m['us'], m['go'])}) |")

    if ns:
        say("")
        say("### Per resource (milliseconds per instance = median seconds / N)")
        say("")
        head = " | ".join(f"{p} {n}" for p in ("floor", "Go", "us") for n in ns)
        say(f"| command | {head} | us − floor per instance, " + " / ".join(str(n) for n in ns) + " |")
        say("|---|" + "---|" * (3 * len(ns) + 1))
        for cmd in ("apply", "plan", "destroy"):
            cells = []
            for p in PEERS:
                for n in ns:
                    m = med("scale", p, n, cmd)
                    cells.append("–" if m is None else f"{m / n * 1000:.2f}")
            extra = []
            for n in ns:
                u, f = med("scale", "us", n, cmd), med("scale", "floor", n, cmd)
                extra.append("–" if u is None or f is None else f"{(u - f) / n * 1000:+.2f}")
            say(f"| {cmd} | " + " | ".join(cells) + " | " + " / ".join(extra) + " |")

    # Provider process figures.
    hs = defaultdict(list)
    hs_rss = defaultdict(list)
    for label, _run, ms, rss in _read_tsv(os.path.join(d, "handshake.tsv")):
        hs[label].append(float(ms))
        if int(rss) > 0:
            hs_rss[label].append(int(rss))
    tl = defaultdict(list)
    for label, metric, ms in _read_tsv(os.path.join(d, "tflog.tsv")):
        tl[(label, metric)].append(float(ms))
    say("")
    say("### Provider process (milliseconds, medians)")
    say("")
    say("| figure | target | Go peer | us | samples (Go / us) |")
    say("|---|---|---|---|---|")

    def fmt_ms(x, prec=2):
        return "–" if x is None else f"{x:.{prec}f}"

    if hs:
        say(f"| exec → handshake line, measured directly (harness floor: `echo` = "
            f"{fmt_ms(_median(hs.get('echo', [])))}) | < 5 | {fmt_ms(_median(hs.get('go', [])))} | "
            f"{fmt_ms(_median(hs.get('us', [])))} | {len(hs.get('go', []))} / {len(hs.get('us', []))} |")
        if hs.get("us-plain") or hs.get("go-plain"):
            say(f"| exec → handshake line without a client certificate (no TLS set-up) | – | "
                f"{fmt_ms(_median(hs.get('go-plain', [])))} | {fmt_ms(_median(hs.get('us-plain', [])))} | "
                f"{len(hs.get('go-plain', []))} / {len(hs.get('us-plain', []))} |")
        say(f"| RSS at the handshake line (MiB) | – | {fmt_ms(_mib(_median(hs_rss.get('go', []))), 1)} | "
            f"{fmt_ms(_mib(_median(hs_rss.get('us', []))), 1)} | |")
    for metric, what, target in (("to_handshake", "start → handshake as Terraform logs it", "< 5"),
                                 ("close_to_exit", "Close (Shutdown RPC) → process exited, Terraform's log", "< 20"),
                                 ("launch", "whole launch (start → schema/work → exited), Terraform's log", "–")):
        g, u = tl.get(("go", metric), []), tl.get(("us", metric), [])
        if g or u:
            say(f"| {what} | {target} | {fmt_ms(_median(g), 1)} | {fmt_ms(_median(u), 1)} | {len(g)} / {len(u)} |")
    sizes = dict(r[:2] for r in _read_tsv(os.path.join(d, "size.tsv")))
    if sizes:
        say(f"| binary size (MiB) | < 15 | {fmt_ms(_mib(int(sizes.get('go', 0)) / 1024), 1)} | "
            f"{fmt_ms(_mib(int(sizes.get('us', 0)) / 1024), 1)} | |")

    # Terraform's own share of a plugin launch, and what it leaves of the validate/plan targets.
    if tl.get(("us", "mtls_total")) or tl.get(("us-validate", "mtls_total")):
        say("")
        say("### What Terraform itself spends on a plugin (its TF_LOG=trace timestamps, ms, medians)")
        say("")
        say("Before a plugin process exists, Terraform hashes the installed package to check it "
            "against the lock file (once per command; the cost grows with the binary's size) and "
            "makes a fresh AutoMTLS client key and certificate (once per launch). Neither depends "
            "on how the provider is written, and the floor pays neither.")
        say("")
        say("| command | launches (Go / us) | lock-file check, Go / us | AutoMTLS set-up, all launches, Go / us "
            "| floor | floor + Terraform's plugin cost with our binary | that / floor | us / floor |")
        say("|---|---|---|---|---|---|---|---|")
        for cmd, suffix in (("validate", "-validate"), ("plan", "")):
            def m(peer, metric):
                return _median(tl.get((peer + suffix, metric), []))
            lk_u, mt_u = m("us", "lock_check"), m("us", "mtls_total")
            f, u = med("small", "floor", 1, cmd), med("small", "us", 1, cmd)
            bound = None if f is None or lk_u is None or mt_u is None else f + (lk_u + mt_u) / 1000.0
            say(f"| `{cmd}`, 1 resource | {fmt_ms(m('go', 'launches'), 0)} / {fmt_ms(m('us', 'launches'), 0)} "
                f"| {fmt_ms(m('go', 'lock_check'), 1)} / {fmt_ms(lk_u, 1)} "
                f"| {fmt_ms(m('go', 'mtls_total'), 1)} / {fmt_ms(mt_u, 1)} "
                f"| {_fmt_s(f)} | {_fmt_s(bound)} | {_ratio(bound, f)} | {_ratio(u, f)} |")

    # Peak RSS and CPU: peer, n, cmd, run, kib, user s, sys s (one line per launch).
    peak = defaultdict(lambda: defaultdict(int))
    cpu = defaultdict(lambda: defaultdict(float))
    for peer, n, cmd, run, kib, user, system in _read_tsv(os.path.join(d, "rss.tsv")):
        key = (peer, int(n), cmd)
        peak[key][run] = max(peak[key][run], int(kib))
        cpu[key][run] += float(user) + float(system)
    if cpu:
        say("")
        say("### Provider CPU time (user + system of all launches of one command, median over runs)")
        say("")
        say("Milliseconds of CPU per instance. Unlike wall time this hardly depends on what else the "
            "machine is doing. GNU time reports it in 10 ms steps per launch.")
        say("")
        cns = sorted({k[1] for k in cpu})
        say("| command | " + " | ".join(f"Go {n} | us {n} | us/Go" for n in cns) + " |")
        say("|---|" + "---|---|---|" * len(cns))
        for cmd in ("apply", "plan", "destroy"):
            cells = []
            for n in cns:
                g = _median(list(cpu.get(("go", n, cmd), {}).values()))
                u = _median(list(cpu.get(("us", n, cmd), {}).values()))
                cells += ["–" if g is None else f"{g / n * 1000:.2f}",
                          "–" if u is None else f"{u / n * 1000:.2f}", _ratio(u, g)]
            say(f"| {cmd} | " + " | ".join(cells) + " |")
    if peak:
        say("")
        say("### Provider peak RSS (MiB; the largest launch of each command, median over runs)")
        say("")
        pns = sorted({k[1] for k in peak})
        say("| command | " + " | ".join(f"Go {n} | us {n}" for n in pns) + " |")
        say("|---|" + "---|---|" * len(pns))
        for cmd in ("apply", "plan", "destroy"):
            cells = []
            for n in pns:
                for p in ("go", "us"):
                    v = peak.get((p, n, cmd))
                    cells.append("–" if not v else f"{_mib(_median(list(v.values()))):.1f}")
            say(f"| {cmd} | " + " | ".join(cells) + " |")
        top = max((max(v.values()) for k, v in peak.items() if k[0] == "us"), default=None)
        if top is not None:
            say("")
            say(f"Largest peak RSS of any launch of our provider: {_mib(top):.1f} MiB (target < 20 MiB).")

    # Emulator requests per instance: n (or "latency"), cmd, run, "ROUTE=COUNT,...".
    reqs = defaultdict(lambda: defaultdict(list))
    for n, cmd, _run, routes in _read_tsv(os.path.join(d, "requests.tsv")):
        for item in filter(None, routes.split(",")):
            route, count = item.rsplit("=", 1)
            reqs[(n, cmd)][route].append(int(count))
    if reqs:
        say("")
        say("### API requests our provider made, per instance (emulator's count / N, median over runs)")
        say("")
        say("| work | requests per instance, by route |")
        say("|---|---|")
        for (n, cmd), routes in sorted(reqs.items(), key=lambda kv: (kv[0][0] == "latency", kv[0][0].zfill(6), kv[0][1])):
            size = 1000 if n == "latency" else int(n)
            what = f"`{cmd}` {n}" if n != "latency" else f"`{cmd}` 1000 (latency run)"
            cells = ", ".join(f"{r} {_median(c) / size:.2f}" for r, c in sorted(routes.items()))
            say(f"| {what} | {cells or 'none'} |")

    lat = {p: times.get(("latency", p, 1000, "apply"), []) for p in ("floor", "us")}
    if lat["us"]:
        lat_ms = int(meta.get("latency_ms", "50"))
        par = int(meta.get("latency_parallelism", "50"))
        f, u = _median(lat["floor"]), _median(lat["us"])
        ideal = (f or 0.0) + 1000 * lat_ms / 1000.0 / par
        say("")
        say(f"### Latency: `apply` of 1000 with `--latency-ms {lat_ms}` on the emulator and `-parallelism={par}`")
        say("")
        extra_s = 1000 * lat_ms / 1000.0 / par
        pl = paired("latency", 1000, "apply", "us", "floor", extra_s)
        say("| floor apply 1000 (same parallelism) | + 1000 × latency / parallelism | ideal | us | "
            "us / ideal (target ≤ 1.2): per round (of medians) | runs |")
        say("|---|---|---|---|---|---|")
        say(f"| {_fmt_s(f)} | {extra_s:.3f} | {_fmt_s(ideal)} | {_fmt_s(u)} | "
            f"{_pr(pl)} ({_ratio(u, ideal)}) | {len(lat['us'])} |")
        per_user = reqs.get(("latency", "apply"))
        if per_user and f is not None and u is not None:
            k = sum(_median(c) for c in per_user.values()) / 1000.0
            ideal_k = f + k * 1000 * lat_ms / 1000.0 / par
            say("")
            say(f"Our provider made {k:.2f} API requests per user during that apply; with that many round "
                f"trips the ideal would be {ideal_k:.3f} s (us / that = {u / ideal_k:.2f}).")

    extra = os.path.join(d, "startup.txt")
    if os.path.exists(extra) and os.path.getsize(extra):
        say("")
        say("### bench/startup.sh")
        say("")
        say("```")
        with open(extra) as fh:
            say(fh.read().rstrip())
        say("```")
    print("\n".join(lines))


def _pr(x):
    return "–" if x is None else f"{x:.2f}"


def _mib(kib):
    return None if kib is None else kib / 1024.0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"state-server": state_server, "handshake": handshake, "tflog": tflog, "report": report}[cmd](args)


if __name__ == "__main__":
    main()
