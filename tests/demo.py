#!/usr/bin/env python3
"""The demo behind tests/demo.sh (the first README command).

Starts postmark-sim and postmark-worker on embedded Kafka (librdkafka's mock
cluster inside the worker), produces a realistic mix of sample jobs with
pmw-kafka, shows progress while the status records arrive, prints a summary
(outcomes, jobs/s, time from enqueue to status), saves the status and
dead-letter records, and stops everything it started.

Only the Python standard library; the binaries come from --bin-dir.
"""

import argparse
import base64
import datetime
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request

SIM_TOKEN = "demo-server-token"


def log(msg):
    print(msg, flush=True)


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(
        ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def jobs_finished(port):
    """Jobs with a final status so far, from the worker's /metrics."""
    try:
        with urllib.request.urlopen(
                "http://127.0.0.1:%s/metrics" % port, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0
    return int(sum(float(m.group(1)) for m in re.finditer(
        r"^postmark_worker_jobs_total\{[^}]*\} (\S+)$", text, re.M)))


class Procs:
    """Processes the demo started; all are stopped, whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_for_log(path, pattern, proc, timeout):
    """Waits for a line matching pattern in the worker's log file."""
    deadline = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("postmark-worker exited early; its log is in " + path)
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = rx.search(line)
                if m:
                    return m
        time.sleep(0.1)
    sys.exit("timed out waiting for '%s' in %s" % (pattern, path))


def sample_jobs(n, rng):
    """A realistic mix: mostly order mail, some snake_case and templated,
    attachments, an inactive recipient, time-limited codes (some already
    expired) and a few jobs that cannot be sent."""
    now = time.time()
    pdf = base64.b64encode(b"%PDF-1.4\n% demo invoice\n%%EOF\n").decode()
    jobs = []
    for i in range(n):
        r = rng.random()
        customer = "customer-%d" % (i % 250)
        headers = {"job-id": "order-%06d" % i}
        if r < 0.62:
            value = {"From": "Shop <orders@shop.example>",
                     "To": "%s@example.org" % customer,
                     "Subject": "Your order #%d" % i,
                     "HtmlBody": "<p>Thanks for order <b>#%d</b>.</p>" % i,
                     "TextBody": "Thanks for order #%d." % i,
                     "Tag": "order-confirmation",
                     "Metadata": {"order": str(i)},
                     "TrackOpens": True}
        elif r < 0.74:
            value = {"sender": "orders@shop.example",
                     "to": "%s@example.org" % customer,
                     "subject": "Order #%d shipped" % i,
                     "text_body": "Order #%d is on its way." % i,
                     "tag": "shipping", "track_links": "HtmlAndText"}
        elif r < 0.86:
            value = {"From": "hello@shop.example",
                     "To": "%s@example.org" % customer,
                     "TemplateAlias": rng.choice(["welcome", "order-shipped"]),
                     "TemplateModel": {"name": customer, "total": 19.99}}
        elif r < 0.92:
            value = {"From": "billing@shop.example",
                     "To": "%s@example.org" % customer,
                     "Subject": "Invoice #%d" % i,
                     "TextBody": "Your invoice is attached.",
                     "Attachments": [{"Name": "invoice-%d.pdf" % i,
                                      "Content": pdf,
                                      "ContentType": "application/pdf"}]}
        elif r < 0.95:
            # One-time codes: useless when late. A third expired already.
            late = rng.random() < 0.33
            headers["expires-at"] = rfc3339(now - 60 if late else now + 600)
            value = {"From": "security@shop.example",
                     "To": "%s@example.org" % customer,
                     "Subject": "Your sign-in code",
                     "TextBody": "Code: %06d" % rng.randrange(10**6)}
        elif r < 0.97:
            value = {"From": "orders@shop.example",
                     "To": "inactive-%d@example.org" % i,
                     "Subject": "Your order #%d" % i,
                     "TextBody": "Thanks."}
        else:
            value = rng.choice([
                "this is not JSON",
                {"From": "orders@shop.example", "Subject": "no recipient",
                 "TextBody": "x"},
                {"From": "orders@shop.example", "To": "a@example.org",
                 "TextBody": "x", "Colour": "blue"},
                {"From": "orders@shop.example", "To": "a@example.org",
                 "TextBody": "x", "TrackLinks": "Sometimes"},
            ])
        if isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"))
        jobs.append({"key": customer, "value": value, "headers": headers})
    return jobs


def read_topic(kafka_tool, bootstrap, topic, expect=0, quiet_ms=300,
               timeout_ms=5000):
    out = subprocess.run(
        [kafka_tool, "consume", "-b", bootstrap, "-t", topic,
         "-n", str(expect), "-q", str(quiet_ms), "-w", str(timeout_ms),
         "--json-value"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False,
        text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line]


def cpu_seconds(pid):
    """User + system CPU time of a process so far, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values))) - 1))
    return values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin-dir", default="build/release")
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--out-dir", default="build/demo")
    args = ap.parse_args()

    b = args.bin_dir
    worker = os.path.join(b, "worker", "postmark-worker")
    sim = os.path.join(b, "tests", "postmark-sim", "postmark-sim")
    kafka_tool = os.path.join(b, "tests", "kafka-tool", "pmw-kafka")
    os.makedirs(args.out_dir, exist_ok=True)
    worker_log = os.path.join(args.out_dir, "worker.log")
    tty = sys.stdout.isatty()
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        log("== postmark-sim (a local Postmark): recipients inactive-* are "
            "suppressed; templates welcome, order-shipped")
        simp = procs.start([sim, "--listen", "127.0.0.1:0",
                            "--token", SIM_TOKEN,
                            "--inactive", "inactive*@*",
                            "--template", "welcome",
                            "--template", "order-shipped"],
                           stdout=subprocess.PIPE,
                           stderr=open(os.path.join(args.out_dir, "sim.log"),
                                       "w"),
                           text=True)
        first = simp.stdout.readline().strip()
        m = re.match(r"listening on (\S+)", first)
        if not m:
            sys.exit("postmark-sim did not start: " + first)
        sim_addr = m.group(1)
        log("   listening on " + sim_addr)

        log("== postmark-worker on embedded Kafka (librdkafka's mock "
            "cluster), log in " + worker_log)
        env = dict(os.environ, POSTMARK_SERVER_TOKEN=SIM_TOKEN)
        wp = procs.start([worker,
                          "--set", "kafka.brokers=embedded",
                          "--set", "postmark.base_url=http://" + sim_addr,
                          "--set", "http.listen=127.0.0.1:0",
                          "--set", "log.level=info"],
                         env=env, stdout=subprocess.DEVNULL,
                         stderr=open(worker_log, "w"))
        bootstrap = wait_for_log(worker_log, r"embedded Kafka .* at (\S+);",
                                 wp, 30).group(1)
        port = wait_for_log(worker_log, r"health endpoint on .* \(port (\d+)\)",
                            wp, 30).group(1)
        wait_for_log(worker_log, r"assigned \d+ partitions", wp, 30)
        log("   Kafka at %s, health at http://127.0.0.1:%s/ready" %
            (bootstrap, port))

        rng = random.Random(2026)
        jobs = sample_jobs(args.jobs, rng)
        log("== producing %d sample jobs to email.jobs" % len(jobs))
        cpu0 = cpu_seconds(wp.pid)
        t0 = time.time()
        subprocess.run([kafka_tool, "produce", "-b", bootstrap,
                        "-t", "email.jobs"],
                       input="\n".join(json.dumps(j) for j in jobs) + "\n",
                       text=True, check=True, stderr=subprocess.DEVNULL)

        # Progress from the worker's own counters: cheap to poll, unlike
        # reading the status topic again each time.
        deadline = time.time() + 60
        while time.time() < deadline:
            done = jobs_finished(port)
            line = "   %d/%d jobs have a status (%.0f%%)" % (
                done, len(jobs), 100.0 * done / len(jobs))
            if tty:
                sys.stdout.write("\r" + line)
                sys.stdout.flush()
            else:
                log(line)
            if done >= len(jobs):
                break
            time.sleep(0.2)
        if tty:
            sys.stdout.write("\n")
        cpu = cpu_seconds(wp.pid) - cpu0
        statuses = read_topic(kafka_tool, bootstrap, "email.status",
                              expect=len(jobs), quiet_ms=1000,
                              timeout_ms=10000)
        dlq = read_topic(kafka_tool, bootstrap, "email.dlq",
                         quiet_ms=1000, timeout_ms=10000)

        counts = {}
        latencies = []
        last = 0.0
        for rec in statuses:
            st = rec["value"]
            counts[st["status"]] = counts.get(st["status"], 0) + 1
            done_at = parse_time(st["completed_at"]).timestamp()
            latencies.append(done_at - parse_time(st["enqueued_at"]).timestamp())
            last = max(last, done_at)
        elapsed = max(last - t0, 1e-3)

        with open(os.path.join(args.out_dir, "status.jsonl"), "w") as f:
            for rec in statuses:
                f.write(json.dumps(rec) + "\n")
        with open(os.path.join(args.out_dir, "dlq.jsonl"), "w") as f:
            for rec in dlq:
                f.write(json.dumps(rec) + "\n")

        log("== summary")
        log("   jobs:       %d produced, %d status records, %d dead letters"
            % (len(jobs), len(statuses), len(dlq)))
        for s in ("sent", "failed", "rejected", "expired"):
            log("   %-10s  %d" % (s + ":", counts.get(s, 0)))
        log("   throughput: %.0f jobs/s (first job produced to last status)"
            % (len(statuses) / elapsed))
        log("   enqueue to status: p50 %.0f ms, p99 %.0f ms"
            % (percentile(latencies, 50) * 1000,
               percentile(latencies, 99) * 1000))
        log("   worker CPU: %.0f us per job (the embedded Kafka included)"
            % (cpu / max(len(statuses), 1) * 1e6))

        log("   status records:      %s/status.jsonl" % args.out_dir)
        log("   dead-letter records: %s/dlq.jsonl" % args.out_dir)
        shown = set()
        for rec in statuses:
            st = rec["value"]
            if st["status"] in shown:
                continue
            shown.add(st["status"])
            log("   e.g. %s" % json.dumps(st, separators=(",", ":"))[:400])

        wp.send_signal(signal.SIGTERM)
        rc = wp.wait(timeout=40)
        log("== postmark-worker stopped on SIGTERM, exit status %d" % rc)
        if len(statuses) != len(jobs) or rc != 0:
            sys.exit("the demo did not complete: see " + worker_log)
    finally:
        procs.stop_all()

    log("""
== next: the same worker against a real Kafka and Postmark
   postmark-worker -c config/postmark-worker.conf \\
       --set kafka.brokers=kafka1:9092,kafka2:9092
   with POSTMARK_SERVER_TOKEN set to your server token. The token
   POSTMARK_API_TEST makes real API calls that Postmark validates but does
   not deliver. Produce jobs to email.jobs (JSON Postmark messages; headers
   job-id, postmark-server, expires-at) and read email.status and email.dlq,
   e.g. with: %s consume -b kafka1:9092 -t email.status -j""" % kafka_tool)


if __name__ == "__main__":
    main()
