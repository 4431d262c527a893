#!/usr/bin/python3
"""ctest lint_docker (label lint): checks the container image, the compose
file and the Kubernetes manifests without Docker or a cluster.

    lint_docker.py --worker BUILD/worker/postmark-worker --build-dir BUILD

What it checks (each line of output is "ok:", "FAIL:" or "skip:"):

- every YAML file under docker/ parses, every Kubernetes object has its
  apiVersion, kind and name, and kustomization.yaml lists exactly the
  manifests there;
- the Dockerfile: Debian bookworm stages, install-deps.sh before the
  sources, the configure and build commands of tests/run-tests.sh's
  build/release, binaries that exist in a build tree, a numeric non-root
  USER, EXPOSE, STOPSIGNAL, HEALTHCHECK, ENTRYPOINT and CMD;
- the runtime packages exist in Debian bookworm (apt-cache policy; skipped
  without apt metadata) and cover the shared libraries the built binaries
  need (dpkg -S; skipped without dpkg);
- one port (http.listen, 9464), one config path, one set of topic names,
  one consumer group and one broker list across the config, the
  Dockerfile, compose and the manifests; grace periods longer than
  workers.shutdown_timeout_ms; KEDA's maxReplicaCount equal to the jobs
  topic's partition count;
- the Deployment's security context, probes and Secret references; the
  Secret holds placeholders only;
- `postmark-worker --check` passes for the ConfigMap's configuration with
  the Deployment's arguments, and for compose's worker, and prints none
  of the (dummy) secrets given to it;
- docker/pmw-sample-jobs prints valid pmw-kafka produce lines;
- where installed (not by install-deps.sh): shellcheck on the shell
  scripts, docker-compose (1.x) config, kubectl kustomize.

The configuration values are read from `postmark-worker --check`, so the
worker itself parses the libconfig files.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("lint_docker: PyYAML is missing (Debian package python3-yaml, "
             "installed by docker/install-deps.sh)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.path.join(ROOT, "docker")
K8S = os.path.join(DOCKER, "k8s")


class Lint:
    def __init__(self):
        self.failures = 0
        self.passed = 0
        self.skipped = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok: " + what)
        else:
            self.failures += 1
            print("FAIL: " + what + (": " + detail if detail else ""))
        return cond

    def equal(self, got, want, what):
        return self.check(got == want, what,
                          "got %r, want %r" % (got, want))

    def skip(self, what, why):
        self.skipped += 1
        print("skip: %s (%s)" % (what, why))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- the worker as the libconfig parser -------------------------------------

def effective_config(worker, conf_path, args=(), env=None):
    """Runs postmark-worker --check; returns (rc, stdout, stderr, values)
    with values {"group.key": "raw value text"} from the printed
    configuration."""
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            run_env[k] = os.environ[k]
    run_env.update(env or {})
    argv = [worker]
    if conf_path:
        argv += ["-c", conf_path]
    argv += list(args) + ["--check"]
    p = subprocess.run(argv, env=run_env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    values = {}
    group = None
    for line in p.stdout.splitlines():
        m = re.match(r"^(\w+) = \{$", line)
        if m:
            group = m.group(1)
            continue
        m = re.match(r"^  (\w+) = (.*?);(  #.*)?$", line)
        if m and group:
            values[group + "." + m.group(1)] = m.group(2)
    return p.returncode, p.stdout, p.stderr, values


def unquote(v):
    if v is not None and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    return v


def listen_port(listen):
    m = re.search(r":(\d+)$", listen or "")
    return int(m.group(1)) if m else None


# --- Dockerfile -------------------------------------------------------------

def dockerfile_instructions(text):
    """[(stage index, INSTRUCTION, argument text)], continuation lines
    joined, comments dropped."""
    out = []
    stage = -1
    cur = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if cur and line.startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((stage, word, rest.strip()))
        cur = ""
    return out


def cmake_commands(text):
    """The cmake command lines in a shell text (continuations joined),
    each as a token list without redirections and up to the first && or
    ;."""
    joined = re.sub(r"\\\n\s*", " ", text)
    cmds = []
    for m in re.finditer(r"(?m)(?:^|&&|\bexec\s)\s*(cmake\s[^\n]*)", joined):
        cmd = re.split(r"&&|;|\|\|", m.group(1))[0]
        toks = [t for t in shlex.split(cmd, comments=True)
                if not t.startswith(">") and not t.startswith("2>")]
        cmds.append(toks)
    return cmds


def lint_dockerfile(lint, ctx):
    path = os.path.join(DOCKER, "Dockerfile")
    text = read(path)
    ins = dockerfile_instructions(text)
    froms = [a for s, w, a in ins if w == "FROM"]
    lint.equal(froms, ["debian:bookworm AS build", "debian:bookworm-slim"],
               "Dockerfile: build stage debian:bookworm, runtime "
               "debian:bookworm-slim")
    last = len(froms) - 1

    build = [(w, a) for s, w, a in ins if s == 0]
    order = [(w, a) for w, a in build if w in ("COPY", "RUN")]
    deps_copy = next((i for i, (w, a) in enumerate(order)
                      if w == "COPY" and "docker/install-deps.sh" in a), None)
    deps_run = next((i for i, (w, a) in enumerate(order)
                     if w == "RUN" and "install-deps.sh" in a), None)
    src_copy = next((i for i, (w, a) in enumerate(order)
                     if w == "COPY" and a.split()[0] == "."), None)
    lint.check(None not in (deps_copy, deps_run, src_copy) and
               deps_copy < deps_run < src_copy,
               "Dockerfile: install-deps.sh is copied and run before the "
               "sources (its own layer)", "order %r" % (order,))

    # The release build of tests/run-tests.sh, command for command.
    rt = cmake_commands(read(os.path.join(ROOT, "tests", "run-tests.sh")))
    release = [c for c in rt if "build/release" in c]
    build_runs = " && ".join(a for w, a in build if w == "RUN")
    df = cmake_commands(build_runs.replace(" && ", "\n&& "))
    rt_conf = [c for c in release if "-S" in c]
    df_conf = [c for c in df if "-S" in c]
    lint.check(len(rt_conf) == 1 and len(df_conf) == 1 and
               rt_conf[0] == df_conf[0],
               "Dockerfile: configure command equals run-tests.sh's "
               "build/release", "run-tests.sh %r, Dockerfile %r"
               % (rt_conf, df_conf))
    rt_build = [c[:3] for c in release if "--build" in c]
    df_build = [c[:3] for c in df if "--build" in c]
    lint.check(rt_build and rt_build == df_build,
               "Dockerfile: build command equals run-tests.sh's "
               "(cmake --build build/release)",
               "run-tests.sh %r, Dockerfile %r" % (rt_build, df_build))

    # The binaries it copies exist in a build tree (same layout).
    copied = re.findall(r"build/release/(\S+)", build_runs)
    copied = [c for c in copied if not c.startswith("-")]
    ctx["binaries"] = {os.path.basename(c): c for c in copied}
    lint.equal(sorted(ctx["binaries"]),
               ["pmw-kafka", "postmark-sim", "postmark-worker"],
               "Dockerfile: copies postmark-worker, postmark-sim, pmw-kafka")
    missing = [c for c in copied
               if not os.path.isfile(os.path.join(ctx["build_dir"], c))]
    lint.check(not missing, "Dockerfile: the binaries it copies are where "
               "a build puts them", "not in %s: %s"
               % (ctx["build_dir"], missing))
    lint.check("strip" in build_runs, "Dockerfile: binaries are stripped")
    lint.check("docker/pmw-sample-jobs" in build_runs,
               "Dockerfile: pmw-sample-jobs is installed")

    rt_ins = [(w, a) for s, w, a in ins if s == last]
    runs = " ".join(a for w, a in rt_ins if w == "RUN")
    m = re.search(r"apt-get install ((?:-\S+\s+)*)([^&|;]+)", runs)
    pkgs = m.group(2).split() if m else []
    ctx["runtime_packages"] = pkgs
    lint.check("--no-install-recommends" in runs and
               "rm -rf /var/lib/apt/lists" in runs,
               "Dockerfile: runtime packages without recommends, apt lists "
               "removed")
    lint.check(bool(pkgs), "Dockerfile: runtime package list found",
               runs[:200])

    def one(word):
        vals = [a for w, a in rt_ins if w == word]
        return vals[-1] if vals else None

    user = one("USER") or ""
    m = re.match(r"^(\d+)(?::(\d+))?$", user)
    lint.check(bool(m) and int(m.group(1)) != 0,
               "Dockerfile: USER is a numeric non-root UID", user)
    ctx["uid"] = int(m.group(1)) if m else None
    ctx["expose"] = one("EXPOSE")
    lint.equal(one("STOPSIGNAL"), "SIGTERM", "Dockerfile: STOPSIGNAL SIGTERM")
    hc = one("HEALTHCHECK") or ""
    m = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", hc)
    ctx["healthcheck_port"] = m.group(1) if m else None
    lint.check(bool(m) and "curl" in hc and "curl" in pkgs,
               "Dockerfile: HEALTHCHECK curls /healthz (curl installed)", hc)
    try:
        entry = json.loads(one("ENTRYPOINT") or "null")
        cmd = json.loads(one("CMD") or "null")
    except ValueError as e:
        entry = cmd = None
        lint.check(False, "Dockerfile: ENTRYPOINT and CMD are JSON", str(e))
    lint.equal(entry, ["postmark-worker"],
               "Dockerfile: ENTRYPOINT [\"postmark-worker\"]")
    ctx["cmd"] = cmd
    lint.check(isinstance(cmd, list) and len(cmd) == 2 and cmd[0] == "-c",
               "Dockerfile: CMD is -c CONFIG", repr(cmd))
    copies = [a.split() for w, a in rt_ins if w == "COPY"]
    conf_dest = [c[-1] for c in copies if c[0] == "config/postmark-worker.conf"]
    ctx["conf_path"] = conf_dest[0] if conf_dest else None
    lint.check(len(conf_dest) == 1, "Dockerfile: copies the example config")
    if isinstance(cmd, list) and len(cmd) == 2:
        lint.equal(cmd[1], ctx["conf_path"],
                   "Dockerfile: CMD reads the config it installs")
    bins = [c for c in copies if c[0].startswith("--from=build")]
    lint.check(bins and bins[0][-1].rstrip("/") == "/usr/local/bin",
               "Dockerfile: binaries go to /usr/local/bin")


def apt_metadata_present():
    lists = "/var/lib/apt/lists"
    try:
        return any("Packages" in f for f in os.listdir(lists))
    except OSError:
        return False


def lint_packages(lint, ctx):
    pkgs = ctx.get("runtime_packages") or []
    if not shutil.which("apt-cache") or not apt_metadata_present():
        lint.skip("runtime packages exist in Debian bookworm",
                  "no apt metadata here: run apt-get update")
    else:
        release = read("/etc/os-release") if os.path.exists(
            "/etc/os-release") else ""
        if "VERSION_CODENAME=bookworm" not in release:
            lint.skip("runtime packages exist in Debian bookworm",
                      "this machine is not bookworm")
        else:
            for pkg in pkgs:
                p = subprocess.run(["apt-cache", "policy", pkg],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
                m = re.search(r"Candidate:\s*(\S+)", p.stdout)
                lint.check(m is not None and m.group(1) != "(none)",
                           "package %s exists in bookworm" % pkg,
                           "apt-cache policy: %s" % p.stdout.strip()[:200])

    # The shared libraries the binaries need come from those packages.
    if not shutil.which("dpkg") or not shutil.which("readelf"):
        lint.skip("runtime packages cover the binaries' libraries",
                  "no dpkg or readelf")
        return
    ldconfig = subprocess.run(["/sbin/ldconfig", "-p"],
                              stdout=subprocess.PIPE, text=True).stdout
    paths = {}
    for line in ldconfig.splitlines():
        m = re.match(r"\s*(\S+) \((libc6,x86-64|[^)]*)\) => (\S+)", line)
        if m and m.group(1) not in paths:
            paths[m.group(1)] = m.group(3)
    # In the slim image already (essential) or the sanitizer build's own.
    base = {"libc6", "libgcc-s1", "libstdc++6"}
    for name, rel in sorted(ctx.get("binaries", {}).items()):
        binary = os.path.join(ctx["build_dir"], rel)
        if not os.path.isfile(binary):
            continue
        dyn = subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE,
                             text=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
        owners = set()
        unknown = []
        for soname in needed:
            path = paths.get(soname)
            owner = None
            for cand in filter(None, [path, path and os.path.realpath(path)]):
                for p in {cand, re.sub(r"^/usr/lib/", "/lib/", cand),
                          re.sub(r"^/lib/", "/usr/lib/", cand)}:
                    q = subprocess.run(["dpkg", "-S", p],
                                       stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
                    if q.returncode == 0:
                        owner = q.stdout.split(":")[0]
                        break
                if owner:
                    break
            if owner:
                owners.add(owner)
            else:
                unknown.append(soname)
        lacking = sorted(owners - base - set(pkgs))
        lint.check(not lacking and not unknown,
                   "runtime packages cover %s's libraries (%s)"
                   % (name, ", ".join(sorted(owners - base))),
                   "not installed by the Dockerfile: %s; no package found "
                   "for %s" % (lacking, unknown))


# --- YAML -------------------------------------------------------------------

def load_yaml(lint, path):
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        lint.check(bool(docs), "%s parses" % os.path.relpath(path, ROOT))
        return docs
    except yaml.YAMLError as e:
        lint.check(False, "%s parses" % os.path.relpath(path, ROOT), str(e))
        return []


def lint_k8s_files(lint, ctx):
    objs = {}
    files = sorted(f for f in os.listdir(K8S) if f.endswith((".yaml", ".yml")))
    kust = None
    for f in files:
        for doc in load_yaml(lint, os.path.join(K8S, f)):
            if f == "kustomization.yaml":
                kust = doc
                continue
            ok = (isinstance(doc, dict) and doc.get("apiVersion") and
                  doc.get("kind") and
                  (doc.get("metadata") or {}).get("name"))
            lint.check(bool(ok), "k8s/%s: apiVersion, kind, metadata.name" % f)
            if ok:
                objs[doc["kind"]] = doc
    if kust is None:
        lint.check(False, "k8s/kustomization.yaml exists")
        return objs
    listed = sorted(kust.get("resources") or [])
    lint.equal(listed, sorted(f for f in files if f != "kustomization.yaml"),
               "kustomization.yaml lists every manifest")
    ctx["kust_images"] = {i.get("name"): i for i in kust.get("images") or []}
    want = {"ConfigMap", "Secret", "Deployment", "Service",
            "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"}
    lint.check(want <= set(objs), "k8s: one object of each kind",
               "missing %s" % sorted(want - set(objs)))
    return objs


def lint_compose(lint, ctx, docs):
    compose = docs[0] if docs else {}
    services = compose.get("services") or {}
    ctx["compose"] = services
    for name in ("kafka", "kafka-init", "postmark-sim", "worker", "producer"):
        lint.check(name in services, "compose: service %s" % name)
    kafka = services.get("kafka", {})
    init = services.get("kafka-init", {})
    image = kafka.get("image", "")
    lint.check(re.match(r"^apache/kafka:3\.\d+\.\d+$", image) is not None,
               "compose: Kafka is apache/kafka pinned to a 3.x tag", image)
    lint.equal(init.get("image"), image,
               "compose: kafka-init uses the Kafka image")
    env = kafka.get("environment") or {}
    for key, want in (("KAFKA_PROCESS_ROLES", "broker,controller"),
                      ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", 1),
                      ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", 0)):
        lint.equal(env.get(key), want, "compose: kafka %s" % key)
    lint.check("PLAINTEXT://kafka:9092" in str(env.get(
        "KAFKA_ADVERTISED_LISTENERS")), "compose: Kafka advertised as "
        "kafka:9092")
    lint.check(bool(kafka.get("healthcheck")), "compose: kafka healthcheck")
    lint.equal(((init.get("depends_on") or {}).get("kafka") or {})
               .get("condition"), "service_healthy",
               "compose: kafka-init waits for a healthy Kafka")
    script = " ".join(init.get("command") or [])
    lint.check("--if-not-exists" in script,
               "compose: kafka-init creates topics --if-not-exists")
    m = re.search(r"for spec in ([^;]+);", script)
    ctx["compose_topics"] = dict(
        (s.split(":")[0], int(s.split(":")[1]))
        for s in (m.group(1).split() if m else []) if ":" in s)
    lint.check(len(ctx["compose_topics"]) == 3,
               "compose: kafka-init creates three topics",
               repr(ctx["compose_topics"]))

    worker = services.get("worker", {})
    lint.equal((worker.get("deploy") or {}).get("replicas"), 2,
               "compose: two worker replicas")
    lint.equal(((worker.get("depends_on") or {}).get("kafka-init") or {})
               .get("condition"), "service_completed_successfully",
               "compose: the worker waits for kafka-init")
    wenv = worker.get("environment") or {}
    lint.equal(wenv.get("KAFKA_BROKERS"), "kafka:9092",
               "compose: worker KAFKA_BROKERS")
    sim = services.get("postmark-sim", {})
    sim_entry = sim.get("entrypoint") or []
    lint.check(sim_entry[:1] == ["postmark-sim"],
               "compose: postmark-sim runs postmark-sim")
    sim_listen = None
    if "--listen" in sim_entry:
        sim_listen = sim_entry[sim_entry.index("--listen") + 1]
    lint.equal(wenv.get("POSTMARK_BASE_URL"),
               "http://postmark-sim:%s" % listen_port(sim_listen),
               "compose: POSTMARK_BASE_URL points at postmark-sim's port")
    tokens = [sim_entry[i + 1] for i, a in enumerate(sim_entry[:-1])
              if a == "--token"]
    lint.check(wenv.get("POSTMARK_SERVER_TOKEN") in tokens,
               "compose: the worker's token is one postmark-sim accepts")
    for opt in ("--inactive", "--template"):
        lint.check(opt in sim_entry, "compose: postmark-sim %s" % opt)
    images = {services.get(s, {}).get("image")
              for s in ("postmark-sim", "worker", "producer")}
    lint.check(len(images) == 1 and None not in images,
               "compose: worker, postmark-sim and producer share one image",
               repr(images))
    builds = [services.get(s, {}).get("build") for s in
              ("postmark-sim", "worker", "producer")]
    lint.check(all(b and b.get("dockerfile") == "docker/Dockerfile" and
                   b.get("context") == ".." for b in builds),
               "compose: the image builds from docker/Dockerfile")
    producer = services.get("producer", {})
    lint.check((producer.get("entrypoint") or [])[:1] == ["pmw-sample-jobs"],
               "compose: producer runs pmw-sample-jobs")
    lint.equal((producer.get("environment") or {}).get("KAFKA_BROKERS"),
               "kafka:9092", "compose: producer KAFKA_BROKERS")
    ctx["producer_topic"] = (producer.get("environment") or {}).get(
        "JOBS_TOPIC")


def duration_seconds(text):
    m = re.match(r"^(\d+)(s|m)$", str(text))
    if not m:
        return None
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


# --- cross-file agreement ---------------------------------------------------

def lint_agreement(lint, ctx, objs, worker):
    tmp = ctx["tmp"]
    services = ctx.get("compose", {})

    # The example config, as the image and compose use it.
    example = os.path.join(ROOT, "config", "postmark-worker.conf")
    rc, out, err, ex = effective_config(
        worker, example, env={"POSTMARK_SERVER_TOKEN": "dummy-token-1"})
    lint.equal(rc, 0, "example config passes --check")
    port = listen_port(unquote(ex.get("http.listen")))
    lint.equal(port, 9464, "example config: http.listen port")
    topics = [unquote(ex.get("kafka." + k)) for k in
              ("jobs_topic", "status_topic", "dead_letter_topic")]
    shutdown_s = int(ex.get("workers.shutdown_timeout_ms", "0")) / 1000.0

    # Dockerfile.
    lint.equal(ctx.get("expose"), str(port), "Dockerfile: EXPOSE the port")
    lint.equal(ctx.get("healthcheck_port"), str(port),
               "Dockerfile: HEALTHCHECK on the port")
    conf_path = ctx.get("conf_path")
    lint.equal(conf_path, "/etc/postmark-worker/postmark-worker.conf",
               "Dockerfile: config path")

    # Compose.
    worker_svc = services.get("worker", {})
    cmd = worker_svc.get("command") or []
    lint.check(cmd[:2] == ["-c", conf_path],
               "compose: the worker reads the image's config path", repr(cmd))
    mounts = [v.split(":") for v in worker_svc.get("volumes") or []]
    lint.check(any(len(m) >= 2 and m[1] == conf_path and
                   os.path.isfile(os.path.normpath(os.path.join(DOCKER, m[0])))
                   for m in mounts),
               "compose: a config file is mounted at the config path",
               repr(mounts))
    ports = [str(p) for p in worker_svc.get("ports") or []]
    lint.check(ports and all(p.split(":")[-1].split("/")[0] == str(port)
                             for p in ports),
               "compose: worker publishes the port", repr(ports))
    lint.check(list(ctx.get("compose_topics", {})) == topics,
               "compose: kafka-init topics equal the config's",
               "%r vs %r" % (list(ctx.get("compose_topics", {})), topics))
    lint.equal(ctx.get("producer_topic"), topics[0],
               "compose: producer writes the jobs topic")
    grace = duration_seconds(worker_svc.get("stop_grace_period"))
    lint.check(grace is not None and grace > shutdown_s,
               "compose: stop_grace_period > workers.shutdown_timeout_ms",
               "%r vs %.0f s" % (worker_svc.get("stop_grace_period"),
                                 shutdown_s))
    # compose's worker: the mounted example config, its environment and
    # command, as --check sees them.
    wenv = {k: str(v) for k, v in (worker_svc.get("environment") or {}).items()}
    args = [a for a in cmd]
    if args[:2] == ["-c", conf_path]:
        args = args[2:]
    rc, out, err, cv = effective_config(worker, example, args, wenv)
    lint.check(rc == 0, "compose: the worker's configuration passes --check",
               err.strip())
    lint.equal(unquote(cv.get("kafka.brokers")), wenv.get("KAFKA_BROKERS"),
               "compose: --check shows the brokers from KAFKA_BROKERS")
    lint.equal(unquote(cv.get("postmark.base_url")),
               wenv.get("POSTMARK_BASE_URL"),
               "compose: --check shows POSTMARK_BASE_URL")
    token = wenv.get("POSTMARK_SERVER_TOKEN", "")
    lint.check(token and token not in out and token not in err,
               "compose: --check masks the demo token")

    # Kubernetes.
    cm = objs.get("ConfigMap", {})
    dep = objs.get("Deployment", {})
    svc = objs.get("Service", {})
    secret = objs.get("Secret", {})
    so = objs.get("ScaledObject", {})
    ta = objs.get("TriggerAuthentication", {})
    pdb = objs.get("PodDisruptionBudget", {})
    pod = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or [{}]
    c = containers[0]

    vols = {v.get("name"): v for v in pod.get("volumes") or []}
    mount = next((m for m in c.get("volumeMounts") or []
                  if (vols.get(m.get("name")) or {}).get("configMap")), None)
    cm_name = (cm.get("metadata") or {}).get("name")
    lint.check(mount is not None and
               vols[mount["name"]]["configMap"].get("name") == cm_name,
               "k8s: the ConfigMap is mounted")
    data = cm.get("data") or {}
    key = os.path.basename(conf_path or "")
    lint.check(mount is not None and
               os.path.join(mount.get("mountPath", ""), key) == conf_path and
               key in data and mount.get("readOnly") is True,
               "k8s: ConfigMap key %s mounted read-only at the config path"
               % key)
    kargs = c.get("args") or []
    lint.check(kargs[:2] == ["-c", conf_path],
               "k8s: the worker reads the config path", repr(kargs[:2]))

    # --check on the ConfigMap with the Deployment's arguments, $(VAR)
    # from dummy secrets; none of them may be printed.
    env_names = {e.get("name") for e in c.get("env") or []}
    refs = set(re.findall(r"\$\((\w+)\)", " ".join(kargs)))
    lint.check(refs <= env_names, "k8s: every $(VAR) in args is in env",
               "undefined: %s" % sorted(refs - env_names))
    dummies = {n: "dummy-%s-7f3a9c" % n.lower() for n in env_names}
    conf_file = os.path.join(tmp, key or "worker.conf")
    with open(conf_file, "w", encoding="utf-8") as f:
        f.write(data.get(key, ""))
    kargs_run = [re.sub(r"\$\((\w+)\)", lambda m: dummies.get(m.group(1), ""),
                        a) for a in kargs[2:]]
    rc, out, err, kv = effective_config(worker, conf_file, kargs_run, dummies)
    lint.check(rc == 0, "k8s: the ConfigMap's config passes --check with the "
               "Deployment's args", err.strip())
    leaked = [n for n, v in dummies.items()
              if "PASSWORD" in n or "TOKEN" in n
              if v in out or v in err]
    lint.check(not leaked and "****" in out,
               "k8s: --check masks the token and the SASL password",
               "printed: %s" % leaked)
    kport = listen_port(unquote(kv.get("http.listen")))
    lint.equal(kport, port, "k8s: ConfigMap http.listen port")
    ktopics = [unquote(kv.get("kafka." + k)) for k in
               ("jobs_topic", "status_topic", "dead_letter_topic")]
    lint.equal(ktopics, topics, "k8s: ConfigMap topics equal the example's")
    kshutdown = int(kv.get("workers.shutdown_timeout_ms", "0")) / 1000.0
    tgps = pod.get("terminationGracePeriodSeconds")
    lint.check(isinstance(tgps, int) and tgps > kshutdown,
               "k8s: terminationGracePeriodSeconds > "
               "workers.shutdown_timeout_ms", "%r vs %.0f s" % (tgps, kshutdown))

    cports = c.get("ports") or []
    lint.check(any(p.get("containerPort") == port and p.get("name") ==
                   "metrics" for p in cports),
               "k8s: containerPort %d named metrics" % port, repr(cports))
    for probe, path in (("livenessProbe", "/healthz"),
                        ("readinessProbe", "/ready")):
        hg = (c.get(probe) or {}).get("httpGet") or {}
        lint.check(hg.get("path") == path and hg.get("port") in (port,
                                                                 "metrics"),
                   "k8s: %s GET %s on %d" % (probe, path, port), repr(hg))
    sc = c.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    lint.check(sc.get("runAsNonRoot") is True and
               sc.get("readOnlyRootFilesystem") is True and
               sc.get("allowPrivilegeEscalation") is False and
               (sc.get("capabilities") or {}).get("drop") == ["ALL"],
               "k8s: container security context (non-root, read-only root, "
               "no escalation, no capabilities)", repr(sc))
    lint.equal(psc.get("runAsUser"), ctx.get("uid"),
               "k8s: runAsUser is the image's UID")
    res = c.get("resources") or {}
    lint.check(all((res.get(k) or {}).get(r) for k in ("requests", "limits")
                   for r in ("cpu", "memory")),
               "k8s: cpu and memory requests and limits")
    img = c.get("image", "")
    lint.check(img in ctx.get("kust_images", {}),
               "k8s: the container image is rewritten by kustomization's "
               "images", img)

    sel = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels")
    tlabels = (((dep.get("spec") or {}).get("template") or {})
               .get("metadata") or {}).get("labels") or {}
    lint.check(sel and all(tlabels.get(k) == v for k, v in sel.items()),
               "k8s: Deployment selector matches its pods")
    for name, obj in (("Service", svc), ("PodDisruptionBudget", pdb)):
        s = (obj.get("spec") or {}).get("selector") or {}
        s = s.get("matchLabels", s)
        lint.equal(s, sel, "k8s: %s selects the worker pods" % name)
    sports = (svc.get("spec") or {}).get("ports") or []
    lint.check(any(p.get("port") == port and p.get("targetPort") in
                   (port, "metrics") for p in sports),
               "k8s: Service exposes the metrics port", repr(sports))
    ann = (svc.get("metadata") or {}).get("annotations") or {}
    lint.equal(ann.get("prometheus.io/port"), str(port),
               "k8s: Service prometheus.io/port")
    lint.equal(ann.get("prometheus.io/path"), "/metrics",
               "k8s: Service prometheus.io/path")
    lint.equal((svc.get("spec") or {}).get("publishNotReadyAddresses"), True,
               "k8s: Service keeps pods on hold (not ready) scraped")

    # The Secret: placeholders only; every reference resolves.
    sname = (secret.get("metadata") or {}).get("name")
    sdata = secret.get("stringData") or {}
    lint.check(sdata and not secret.get("data") and
               all(str(v).startswith("REPLACE-") for v in sdata.values()),
               "k8s: the Secret is a template (placeholders only)")
    refs = [((e.get("valueFrom") or {}).get("secretKeyRef") or {})
            for e in c.get("env") or []]
    refs = [r for r in refs if r]
    refs += [{"name": r.get("name"), "key": r.get("key")}
             for r in (ta.get("spec") or {}).get("secretTargetRef") or []]
    bad = [r for r in refs if r.get("name") != sname or
           r.get("key") not in sdata]
    lint.check(refs and not bad, "k8s: Secret references resolve",
               repr(bad))
    tok = [e for e in c.get("env") or [] if e.get("name") ==
           "POSTMARK_SERVER_TOKEN" and (e.get("valueFrom") or {})
           .get("secretKeyRef")]
    lint.check(bool(tok), "k8s: POSTMARK_SERVER_TOKEN from the Secret")

    # KEDA.
    spec = so.get("spec") or {}
    lint.equal((spec.get("scaleTargetRef") or {}).get("name"),
               (dep.get("metadata") or {}).get("name"),
               "k8s: ScaledObject scales the Deployment")
    trig = next((t for t in spec.get("triggers") or []
                 if t.get("type") == "kafka"), {})
    meta = trig.get("metadata") or {}
    lint.equal(meta.get("topic"), topics[0], "k8s: KEDA watches the jobs topic")
    lint.equal(meta.get("consumerGroup"), unquote(kv.get("kafka.group_id")),
               "k8s: KEDA watches the worker's group")
    lint.equal(meta.get("bootstrapServers"), unquote(kv.get("kafka.brokers")),
               "k8s: KEDA and the ConfigMap name the same brokers")
    partitions = ctx.get("compose_topics", {}).get(topics[0])
    lint.equal(spec.get("maxReplicaCount"), partitions,
               "k8s: maxReplicaCount = the jobs topic's partitions")
    mn = spec.get("minReplicaCount")
    lint.check(isinstance(mn, int) and 1 <= mn <= (partitions or 0),
               "k8s: 1 <= minReplicaCount <= maxReplicaCount")
    lint.equal((trig.get("authenticationRef") or {}).get("name"),
               (ta.get("metadata") or {}).get("name"),
               "k8s: KEDA uses the TriggerAuthentication")


def lint_samples(lint, ctx):
    script = os.path.join(DOCKER, "pmw-sample-jobs")
    p = subprocess.run(["bash", "-n", script], stderr=subprocess.PIPE,
                       text=True)
    lint.check(p.returncode == 0, "pmw-sample-jobs: bash syntax", p.stderr)
    p = subprocess.run([script, "300"], env=dict(os.environ, SEED="42"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    lines = p.stdout.splitlines()
    bad = []
    ids = set()
    for line in lines:
        try:
            rec = json.loads(line)
            assert set(rec) == {"key", "value", "headers"}
            assert isinstance(rec["headers"], dict)
            ids.add(rec["headers"]["job-id"])
            assert isinstance(rec["value"], (dict, str))
        except (ValueError, AssertionError, KeyError) as e:
            bad.append("%s: %s" % (e, line[:120]))
    lint.check(p.returncode == 0 and len(lines) == 300 and not bad and
               len(ids) == 300,
               "pmw-sample-jobs prints 300 valid produce lines, unique job ids",
               "rc %d, %d lines, %s" % (p.returncode, len(lines), bad[:2]))
    p = subprocess.run([script, "0"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    lint.equal(p.returncode, 2, "pmw-sample-jobs: usage error exits 2")


def lint_optional_tools(lint, ctx):
    scripts = [os.path.join(DOCKER, "install-deps.sh"),
               os.path.join(DOCKER, "pmw-sample-jobs")]
    if shutil.which("shellcheck"):
        p = subprocess.run(["shellcheck"] + scripts, stdout=subprocess.PIPE,
                           text=True)
        lint.check(p.returncode == 0, "shellcheck docker scripts", p.stdout)
    else:
        lint.skip("shellcheck docker scripts", "shellcheck not installed")

    if shutil.which("docker-compose"):
        # docker-compose 1.x validates the file against the compose schema
        # but predates the top-level `name`; docker compose v2 reads it.
        text = read(os.path.join(DOCKER, "docker-compose.yml"))
        text = re.sub(r"(?m)^name: .*$", "", text)
        copy = os.path.join(ctx["tmp"], "docker-compose.yml")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text)
        # Relative paths resolve against docker/, as for the original.
        p = subprocess.run(["docker-compose", "--project-directory", DOCKER,
                            "-f", copy, "config", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
        lint.check(p.returncode == 0,
                   "docker-compose config accepts docker-compose.yml",
                   p.stdout.strip())
    else:
        lint.skip("docker-compose config", "docker-compose not installed")

    if shutil.which("kubectl"):
        p = subprocess.run(["kubectl", "kustomize", K8S],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        ok = p.returncode == 0
        if ok:
            docs = [d for d in yaml.safe_load_all(p.stdout) if d]
            images = [c.get("image") for d in docs if d.get("kind") ==
                      "Deployment" for c in d["spec"]["template"]["spec"]
                      ["containers"]]
            ok = len(docs) == 7 and all(":" in i for i in images)
        lint.check(ok, "kubectl kustomize docker/k8s renders 7 objects with "
                   "a tagged image", p.stderr.strip()[:300])
    else:
        lint.skip("kubectl kustomize", "kubectl not installed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", required=True,
                    help="a built postmark-worker binary")
    ap.add_argument("--build-dir", required=True,
                    help="its build tree (binaries at the release layout)")
    args = ap.parse_args()

    lint = Lint()
    ctx = {"build_dir": args.build_dir}
    with tempfile.TemporaryDirectory(prefix="pmw_lint_docker_") as tmp:
        ctx["tmp"] = tmp
        compose_docs = load_yaml(lint, os.path.join(DOCKER,
                                                    "docker-compose.yml"))
        objs = lint_k8s_files(lint, ctx)
        lint_dockerfile(lint, ctx)
        lint_packages(lint, ctx)
        lint_compose(lint, ctx, compose_docs)
        lint_agreement(lint, ctx, objs, args.worker)
        lint_samples(lint, ctx)
        lint_optional_tools(lint, ctx)
    lint.check(os.path.isfile(os.path.join(ROOT, ".dockerignore")) and
               "build" in read(os.path.join(ROOT, ".dockerignore")).split(),
               ".dockerignore leaves out build trees")

    print("%d passed, %d failed, %d skipped" %
          (lint.passed, lint.failures, lint.skipped))
    return 1 if lint.failures else 0


if __name__ == "__main__":
    sys.exit(main())
