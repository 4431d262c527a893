#!/usr/bin/python3
"""ctest integration_secrets (label integration): secrets never leak.

    test_secrets.py --worker BIN --sim BIN --kafka-tool BIN

Runs postmark-worker on embedded Kafka against postmark-sim at
log.level=debug, with librdkafka's configuration dump on (debug=conf), a
distinctive Postmark token and two secret Kafka properties:

    POSTMARK_SERVER_TOKEN=tok-SECRET-7f3a9c
    --set kafka.producer.sasl.password=pw-SECRET-91b2
    --set kafka.consumer.ssl.key.password=kp-SECRET-55

produces jobs with pmw-kafka (sent, failed, rejected and expired ones),
waits for their status records, scrapes /metrics, /ready and /healthz,
stops the worker with SIGTERM, runs --check with the same settings and a
few configuration errors that involve the secrets, and asserts:

- none of the three secrets appears in anything the worker wrote (stdout
  and stderr, all of it), served or printed;
- the run did work: every job has a status record, the sent ones as
  expected, /metrics counts them, the worker exited 0 on SIGTERM;
- log.format=text: every stderr line is "TIME LEVEL facility: message";
  log.format=json: every stderr line is a JSON object with time, level,
  event and msg.

Processes are started and stopped by PID; nothing is left running.
"""

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TOKEN = "tok-SECRET-7f3a9c"
SASL_PASSWORD = "pw-SECRET-91b2"
KEY_PASSWORD = "kp-SECRET-55"
SECRETS = (TOKEN, SASL_PASSWORD, KEY_PASSWORD)
SECRET_SETS = [
    "--set", "kafka.producer.sasl.password=" + SASL_PASSWORD,
    "--set", "kafka.consumer.ssl.key.password=" + KEY_PASSWORD,
]

failures = []
passes = []


def check(cond, what, detail=""):
    if cond:
        passes.append(what)
        print("ok: " + what, flush=True)
    else:
        failures.append(what)
        print("FAIL: %s%s" % (what, ": " + detail if detail else ""),
              flush=True)
    return cond


def base_env():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
              "TSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(
        ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def jobs():
    """20 jobs: 15 sent, 1 failed (inactive recipient), 3 rejected, 1
    expired. Returns (produce lines, {job id: expected status})."""
    out = []
    for i in range(15):
        out.append({"key": "customer-%d" % i,
                    "headers": {"job-id": "secret-test-%d" % i},
                    "value": {"From": "orders@shop.example",
                              "To": "c%d@example.org" % i,
                              "Subject": "Order %d" % i,
                              "TextBody": "Thanks for order %d." % i,
                              "Metadata": {"order": str(i)}}})
    out.append({"key": "customer-x", "headers": {"job-id": "secret-test-f"},
                "value": {"From": "orders@shop.example",
                          "To": "inactive-1@example.org",
                          "Subject": "x", "TextBody": "x"}})
    out.append({"headers": {"job-id": "secret-test-r1"},
                "value": "this is not JSON"})
    out.append({"headers": {"job-id": "secret-test-r2"},
                "value": {"From": "orders@shop.example", "TextBody": "x"}})
    out.append({"headers": {"job-id": "secret-test-r3"},
                "value": {"From": "orders@shop.example", "To": "a@b.org",
                          "TextBody": "x", "Colour": "blue"}})
    out.append({"headers": {"job-id": "secret-test-e",
                            "expires-at": rfc3339(time.time() - 60)},
                "value": {"From": "orders@shop.example", "To": "a@b.org",
                          "Subject": "code", "TextBody": "123456"}})
    want = {j["headers"]["job-id"]: "sent" for j in out[:15]}
    want.update({"secret-test-f": "failed", "secret-test-r1": "rejected",
                 "secret-test-r2": "rejected", "secret-test-r3": "rejected",
                 "secret-test-e": "expired"})
    return out, want


def wait_for(path, pattern, proc, timeout):
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, encoding="utf-8", errors="replace") as f:
            m = rx.search(f.read())
        if m:
            return m
        if proc.poll() is not None:
            return None
        time.sleep(0.1)
    return None


def consume(args, bootstrap, topic, count):
    """Every record of topic, as pmw-kafka consume -j prints them."""
    p = subprocess.run([args.kafka_tool, "consume", "-b", bootstrap,
                        "-t", topic, "-j", "-n", str(count), "-q", "1000",
                        "-w", "60000"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=base_env(), text=True, timeout=90)
    check(p.returncode == 0, "pmw-kafka consume %s" % topic, p.stderr)
    return [json.loads(line) for line in p.stdout.splitlines() if line]


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return None, str(e)


def stop(proc, timeout=40):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def no_secrets(name, text):
    found = [s for s in SECRETS if s in text]
    check(not found, "%s: no secret in it" % name, "found %s" % found)


def metric(text, name, labels):
    """The value of name{labels} (labels "": an unlabelled metric)."""
    sel = r"\{%s\}" % re.escape(labels) if labels else ""
    rx = re.compile(r"^%s%s (\S+)$" % (re.escape(name), sel), re.M)
    m = rx.search(text)
    return float(m.group(1)) if m else None


def run_worker(args, fmt, tmp):
    tag = "run_" + fmt
    sim = worker = None
    try:
        sim = subprocess.Popen(
            [args.sim, "--listen", "127.0.0.1:0", "--token", TOKEN,
             "--inactive", "inactive*@*"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=base_env(), text=True)
        first = sim.stdout.readline().strip()
        m = re.match(r"listening on (\S+)$", first)
        if not check(m is not None, "%s: postmark-sim started" % tag, first):
            return
        sim_addr = m.group(1)

        out_path = os.path.join(tmp, tag + ".stdout")
        err_path = os.path.join(tmp, tag + ".stderr")
        env = dict(base_env(), POSTMARK_SERVER_TOKEN=TOKEN)
        argv = [args.worker,
                "--set", "kafka.brokers=embedded",
                "--set", "postmark.base_url=http://" + sim_addr,
                "--set", "http.listen=127.0.0.1:0",
                "--set", "log.level=debug",
                "--set", "log.format=" + fmt,
                "--set", "batch.linger_ms=20",
                # librdkafka prints its configuration at debug=conf: the
                # secret properties must be masked there too.
                "--set", "kafka.consumer.debug=conf",
                "--set", "kafka.producer.debug=conf"] + SECRET_SETS
        with open(out_path, "w") as out, open(err_path, "w") as err:
            worker = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        m = wait_for(err_path, r"embedded Kafka .*? at ([0-9.:]+);", worker,
                     30)
        if not check(m is not None, "%s: embedded Kafka started" % tag):
            return
        bootstrap = m.group(1)
        m = wait_for(err_path, r"health endpoint on \S+ \(port (\d+)\)",
                     worker, 30)
        if not check(m is not None, "%s: health endpoint started" % tag):
            return
        port = int(m.group(1))
        check(wait_for(err_path, r"assigned \d+ partitions", worker, 30)
              is not None, "%s: partitions assigned" % tag)

        lines, want = jobs()
        p = subprocess.run([args.kafka_tool, "produce", "-b", bootstrap,
                            "-t", "email.jobs"],
                           input="".join(json.dumps(j) + "\n" for j in lines),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=base_env(), text=True, timeout=60)
        check(p.returncode == 0, "%s: %d jobs produced" % (tag, len(lines)),
              p.stderr)
        statuses = consume(args, bootstrap, "email.status", len(lines))
        # The jobs as the topic holds them: librdkafka's mock may store a
        # produce retry twice (README "Kafka without a server"), and such
        # a copy is a job of its own, with its own offset.
        records = consume(args, bootstrap, "email.jobs", len(lines))
        by_offset = {}
        for rec in statuses:
            v = rec["value"]
            by_offset.setdefault((v["partition"], v["offset"]), []).append(
                (rec["key"], v["status"]))
        wrong = []
        for rec in records:
            at = (rec["partition"], rec["offset"])
            job_id = dict(rec["headers"]).get("job-id")
            if by_offset.pop(at, None) != [(job_id, want.get(job_id))]:
                wrong.append((at, job_id, want.get(job_id)))
        wrong += [("status without a job", at, st)
                  for at, st in by_offset.items()]
        got_ids = {rec["key"] for rec in statuses}
        if not check(not wrong and got_ids == set(want) and
                     len(records) >= len(lines),
                     "%s: every job has one status record, the expected "
                     "one" % tag, "%d jobs, %d statuses; wrong: %r"
                     % (len(records), len(statuses), wrong[:5])):
            with open(err_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if re.search(r"NOTICE|WARN|ERROR|\"(notice|warn|error)\"",
                                 line):
                        print("  worker: " + line.rstrip()[:300])
        by_status = {}
        for rec in statuses:
            st = rec["value"]["status"]
            by_status[st] = by_status.get(st, 0) + 1

        # Ready once the group is joined; allow the worker a moment.
        ready = (None, "")
        for _ in range(50):
            ready = http_get(port, "/ready")
            if ready[0] == 200:
                break
            time.sleep(0.2)
        check(ready[0] == 200, "%s: /ready is 200" % tag, repr(ready))
        health = http_get(port, "/healthz")
        check(health[0] == 200, "%s: /healthz is 200" % tag, repr(health))
        metrics = http_get(port, "/metrics")
        check(metrics[0] == 200, "%s: /metrics is 200" % tag)
        # The counters equal what the status topic holds: per status, and
        # one dead letter per job that was not sent.
        counted = {st: metric(metrics[1], "postmark_worker_jobs_total",
                              'status="%s"' % st)
                   for st in ("sent", "failed", "rejected", "expired")}
        expected = {st: float(by_status.get(st, 0)) for st in counted}
        check(counted == expected and expected["sent"] >= 15 and
              all(expected[st] >= 1 for st in expected),
              "%s: /metrics counts every job by status (%s)" % (
                  tag, ", ".join("%s %d" % (st, n)
                                 for st, n in sorted(expected.items()))),
              "postmark_worker_jobs_total %r, status records %r"
              % (counted, expected))
        letters = metric(metrics[1], "postmark_worker_dead_letters_total", "")
        unsent = sum(v for st, v in expected.items() if st != "sent")
        check(letters == unsent,
              "%s: /metrics counts the dead letters (%r)" % (tag, letters),
              "postmark_worker_dead_letters_total %r, jobs not sent %r"
              % (letters, unsent))
        for name, body in (("/ready", ready[1]), ("/healthz", health[1]),
                           ("/metrics", metrics[1])):
            no_secrets("%s: %s" % (tag, name), body)

        rc = stop(worker)
        check(rc == 0, "%s: worker exits 0 on SIGTERM" % tag, "rc %r" % rc)
        worker = None

        with open(out_path, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        no_secrets("%s: worker stdout and stderr (%d lines)" %
                   (tag, stderr.count("\n") + stdout.count("\n")),
                   stdout + stderr)
        # librdkafka redacts secret properties in its dump itself; the
        # worker's masking ("****") is the second line of defence.
        dumped = re.findall(r"(sasl\.password|ssl\.key\.password) = "
                            r"(\[redacted\]|\*\*\*\*)", stderr)
        check({d[0] for d in dumped} == {"sasl.password",
                                         "ssl.key.password"},
              "%s: librdkafka's configuration dump shows both passwords "
              "masked" % tag, repr(dumped))
        check("DEBUG" in stderr or '"level":"debug"' in stderr,
              "%s: debug lines were written" % tag)

        bad = []
        for line in stderr.splitlines():
            if fmt == "json":
                try:
                    obj = json.loads(line)
                    ok = (isinstance(obj, dict) and
                          {"time", "level", "event", "msg"} <= set(obj))
                except ValueError:
                    ok = False
            else:
                ok = re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                              r"(ERROR|WARN|NOTICE|INFO|DEBUG) \S+: ",
                              line) is not None
            if not ok:
                bad.append(line[:200])
        check(not bad and stderr, "%s: every stderr line is a %s log line"
              % (tag, fmt), "%d bad, e.g. %r" % (len(bad), bad[:3]))
    finally:
        stop(worker)
        stop(sim)


def run_check(args):
    """--check with the same settings, and configuration errors that
    involve the secrets: nothing printed may contain them."""
    env = dict(base_env(), POSTMARK_SERVER_TOKEN=TOKEN)
    cases = [
        ("check", env, SECRET_SETS + ["--set", "log.level=debug"], 0),
        # A range error elsewhere, with the secrets set.
        ("range error", env, SECRET_SETS + ["--set", "batch.max_messages=0"],
         2),
        # librdkafka refuses a property whose name says it is secret.
        ("unknown secret property", env,
         ["--set", "kafka.consumer.ssl.key.passwrd=" + KEY_PASSWORD], 2),
        # A token with a control character is refused, not printed.
        ("bad token", dict(base_env(), POSTMARK_SERVER_TOKEN=TOKEN + "\x01"),
         [], 2),
        ("bad token from --set", env,
         ["--set", "postmark.servers.eu.token=" + TOKEN + "\x7f"], 2),
    ]
    for name, cenv, extra, want_rc in cases:
        p = subprocess.run([args.worker] + extra + ["--check"], env=cenv,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        check(p.returncode == want_rc, "--check %s: exit %d" % (name,
                                                                want_rc),
              "exit %d: %s" % (p.returncode, p.stderr.strip()))
        no_secrets("--check %s: output" % name, p.stdout + p.stderr)
        if want_rc == 0:
            check(p.stdout.count("****") >= 3,
                  "--check: the token and both passwords shown as ****")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--kafka-tool", required=True)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="pmw_secrets_") as tmp:
        run_check(args)
        run_worker(args, "text", tmp)
        run_worker(args, "json", tmp)
    print("%d passed, %d failed" % (len(passes), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
