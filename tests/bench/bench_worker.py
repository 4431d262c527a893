#!/usr/bin/env python3
"""End-to-end benchmark of postmark-worker (a program, never a test).

For each simulator latency (default 0 and 150 ms): starts a separate
mock-broker process (email.jobs with 64 partitions: the mock keeps ~5 MB per
partition, so 200,000 1 KB jobs need that many), produces N jobs of ~1 KB
with pmw-kafka, starts postmark-sim with --latency-ms, then postmark-worker
with its default settings (plus the mock's client settings), and measures:

  jobs/s    from the first request Postmark saw to the last status record
            (the worker's own /metrics: requests and jobs_total)
  CPU       the worker's user+system time per job (/proc/PID/stat)
  peak RSS  the worker's VmHWM (/proc/PID/status)

The backlog is produced before the worker starts, so this measures a
worker catching up with 200,000 waiting jobs: the throughput ceiling.

    tests/bench/bench_worker.py [--bin-dir build/release] [--jobs 200000]
                                [--latency 0,150] [--set KEY=VALUE]...
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

MOCK_SETTINGS = [
    "kafka.consumer.fetch.wait.max.ms=20",
    "kafka.consumer.session.timeout.ms=6000",
    "kafka.consumer.heartbeat.interval.ms=1000",
    "kafka.consumer.reconnect.backoff.max.ms=1000",
    "kafka.producer.reconnect.backoff.max.ms=1000",
]


def job_line(i, size):
    body = "x" * max(0, size - 260)
    value = {"From": "Shop <orders@shop.example>",
             "To": "customer-%d@example.org" % i,
             "Subject": "Your order #%d" % i,
             "TextBody": "Thanks for order #%d. %s" % (i, body),
             "Tag": "order-confirmation",
             "Metadata": {"order": str(i)}}
    return json.dumps({"key": "customer-%d" % (i % 1000),
                       "value": json.dumps(value, separators=(",", ":")),
                       "headers": {"job-id": "bench-%d" % i}})


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def metrics(port):
    text = urllib.request.urlopen(
        "http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    jobs = sum(int(v) for v in re.findall(
        r'^postmark_worker_jobs_total\{status="[a-z]+"\} (\d+)', text, re.M))
    reqs = sum(int(v) for v in re.findall(
        r"^postmark_worker_requests_total\{[^}]*\} (\d+)", text, re.M))
    return jobs, reqs


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(args, latency):
    b = args.bin_dir
    procs = []
    try:
        broker = subprocess.Popen(
            [os.path.join(b, "tests/mock-broker/mock-broker"),
             "email.jobs:64", "email.status:16", "email.dlq:4"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        procs.append(broker)
        bootstrap = broker.stdout.readline().strip()

        t0 = time.time()
        produce = subprocess.Popen(
            [os.path.join(b, "tests/kafka-tool/pmw-kafka"), "produce",
             "-b", bootstrap, "-t", "email.jobs",
             "-X", "linger.ms=20", "-X", "batch.num.messages=10000"],
            stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for i in range(args.jobs):
            produce.stdin.write(job_line(i, args.size) + "\n")
        produce.stdin.close()
        if produce.wait() != 0:
            sys.exit("producing the backlog failed")
        produce_s = time.time() - t0

        sim = subprocess.Popen(
            [os.path.join(b, "tests/postmark-sim/postmark-sim"),
             "--listen", "127.0.0.1:0", "--latency-ms", str(latency),
             "--store-max", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(sim)
        sim_addr = re.match(r"listening on (\S+)",
                            sim.stdout.readline()).group(1)

        port = free_port()
        argv = [os.path.join(b, "worker/postmark-worker"),
                "--set", "kafka.brokers=" + bootstrap,
                "--set", "postmark.base_url=http://" + sim_addr,
                "--set", "postmark.servers.default.token=bench-token",
                "--set", "http.listen=127.0.0.1:%d" % port]
        for s in MOCK_SETTINGS + args.set:
            argv += ["--set", s]
        if args.perf:
            # Profile the worker (software clock: works without PMU).
            argv = ["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g",
                    "-o", args.perf, "--"] + argv
        worker = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                  stderr=open(args.log, "w"))
        procs.append(worker)

        first_req = None
        done_t = None
        deadline = time.time() + args.timeout
        cpu0 = None
        while time.time() < deadline:
            time.sleep(0.05)
            try:
                jobs, reqs = metrics(port)
            except OSError:
                continue
            now = time.time()
            if cpu0 is None:
                cpu0 = proc_stat(worker.pid)
            if reqs and first_req is None:
                first_req = now
            if jobs >= args.jobs:
                done_t = now
                break
        if done_t is None:
            sys.exit("timed out: see " + args.log)
        cpu = proc_stat(worker.pid) - cpu0
        others = "broker %.1f s, simulator %.1f s CPU in all" % (
            proc_stat(broker.pid), proc_stat(sim.pid))
        hwm = proc_hwm_kb(worker.pid)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        elapsed = done_t - first_req
        print("latency %4d ms: %7.0f jobs/s, %5.1f us CPU/job, peak RSS "
              "%5.1f MB  (%d jobs in %.2f s; backlog produced in %.1f s)"
              % (latency, args.jobs / elapsed, cpu / args.jobs * 1e6,
                 hwm / 1024.0, args.jobs, elapsed, produce_s), flush=True)
        print("                 (worker %.1f s CPU while catching up; %s)"
              % (cpu, others), flush=True)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin-dir", default="build/release")
    ap.add_argument("--jobs", type=int, default=200000)
    ap.add_argument("--size", type=int, default=1024,
                    help="approximate job value size in bytes")
    ap.add_argument("--latency", default="0,150",
                    help="simulator latencies in ms, comma-separated")
    ap.add_argument("--set", action="append", default=[],
                    help="extra worker setting KEY=VALUE (repeatable)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--log", default="/tmp/bench-worker.log")
    ap.add_argument("--perf", default="",
                    help="record a perf profile of the worker to this file "
                         "(its CPU and RSS figures then include perf)")
    args = ap.parse_args()
    print("postmark-worker benchmark: %d jobs of ~%d bytes, default "
          "settings%s" % (args.jobs, args.size,
                          (" + " + " ".join(args.set)) if args.set else ""))
    for latency in [int(x) for x in args.latency.split(",")]:
        run(args, latency)


if __name__ == "__main__":
    main()
