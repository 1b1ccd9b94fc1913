#!/usr/bin/env python3
"""The security review's repros, against any hookgate binary, one line per repro.

    python3 tests/repro/security-review.py target/release/hookgate new

Used to show each hole's answer before and after it was closed (pass `old` for a build that
has no --api-listen). Starts `hookgate sim` and `hookgate serve` on ports 28080-28087 of
loopback. The integration tests (tests/it/security.rs, hostile.rs, serve.rs) pin the same
behaviour; this script only prints it.
"""
import base64, json, os, socket, subprocess, sys, time, threading, http.client, random, string, resource

BIN = sys.argv[1]
NEW = sys.argv[2] == "new"
SIM, EDGE, API, PUB = 28080, 28085, 28086, 28087

def req(method, port, path, body=None, headers=None, creds=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    h = dict(headers or {})
    if creds:
        h["Authorization"] = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
    if body is not None:
        h.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data

def wait(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")

def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) // 1024
    return -1

KEYS = "t1 " + base64.urlsafe_b64encode(b"\x01" * 32).decode().rstrip("=")
ALICE = ("alice", "alice-secret")

LOGS = {}
def serve(extra, env_extra=None, stderr=subprocess.DEVNULL):
    env = dict(os.environ, CATTLE_URL=f"http://127.0.0.1:{SIM}/v1", CATTLE_ACCESS_KEY="service",
               CATTLE_SECRET_KEY="service-secret", HOOKGATE_KEYS=KEYS)
    env.update(env_extra or {})
    p = subprocess.Popen([BIN, "serve"] + extra, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    if stderr == subprocess.PIPE:
        buf = LOGS.setdefault(p.pid, bytearray())
        def drain():
            while True:
                b = p.stderr.read(65536)
                if not b:
                    return
                buf.extend(b)
        threading.Thread(target=drain, daemon=True).start()
    return p

def sim_calls():
    return json.loads(req("GET", SIM, "/_sim/calls")[2])

def create(port, name, cfg, headers=None):
    body = json.dumps({"name": name, "driver": "scaleService", "scaleServiceConfig": cfg})
    s, h, d = req("POST", port, "/v1-webhooks/receivers?projectId=1a5", body, headers=headers, creds=ALICE)
    return s, json.loads(d)

def path_of(url):
    return url[url.index("/v1-webhooks"):]

out = []
def say(name, value):
    out.append((name, value)); print(f"{name}: {value}", flush=True)

sim = subprocess.Popen([BIN, "sim", "--listen", f"127.0.0.1:{SIM}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait(SIM)
edge = serve(["--listen", f"127.0.0.1:{EDGE}"], stderr=subprocess.PIPE)
wait(EDGE)
try:
    base = {"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 100}
    s, rec = create(EDGE, "r1", base)
    s, h, d = req("POST", EDGE, path_of(rec["url"]))
    rid = json.loads(d)["receiverId"]
    s, h, d = req("POST", EDGE, f"/v1-webhooks/endpoint?key={rid}&projectId=1a5")
    say("1 key=<receiverId> fires", s)

    req("DELETE", SIM, "/_sim/calls")
    for i in range(2000):
        k = "".join(random.choice(string.ascii_letters) for _ in range(40))
        req("POST", EDGE, f"/v1-webhooks/endpoint?key={k}&projectId=1a5")
    say("2 Cattle calls for 2,000 random keys", len(sim_calls()))
    s, h, d = req("POST", EDGE, f"/v1-webhooks/endpoint?key={'x'*40}&projectId=1a99")
    say("2 unknown key in an unreachable project", s)

    tok = rec["url"].split("token=")[1]
    s, h, d = req("POST", EDGE, f"/v1-webhooks/endpoint?{tok}")
    say("5 token without token= echoed", tok[10:40] in d.decode())
    s, r2 = create(EDGE, "fwd", base, headers={"X-Forwarded-Host": "evil.example"})
    say("5 X-Forwarded-Host sets stored URL host", r2.get("url", "")[:40])

    s, rc = create(EDGE, "rev", dict(base, cooldownSeconds=300, onResolved="reverse"))
    firing = json.dumps({"status": "firing", "alerts": [{"status": "firing", "fingerprint": "f1", "startsAt": "2026-11-29T10:00:00Z"}]})
    resolved = json.dumps({"status": "resolved", "alerts": [{"status": "resolved", "fingerprint": "f1", "startsAt": "2026-11-29T10:00:00Z"}]})
    a = json.loads(req("POST", EDGE, path_of(rc["url"]), firing)[2])
    b = json.loads(req("POST", EDGE, path_of(rc["url"]), resolved)[2])
    say("6 cooldown+reverse: resolved after firing", f"{b['outcome']} {b.get('from')}->{b.get('to')}")
    s, rd = create(EDGE, "empty", base)
    d = json.loads(req("POST", EDGE, path_of(rd["url"]) + "&dryRun=true", '{"status":"resolved"}')[2])
    say("6 {status:resolved} no alerts, dry run", f"{d['outcome']} {d.get('from')}->{d.get('to')}")
    s, h, d = req("POST", EDGE, path_of(rd["url"]), json.dumps({"status": "firing", "alerts": [{"fingerprint": "y", "startsAt": "yesterday"}]}))
    say("6 startsAt yesterday", s)

    s, r3 = create(EDGE, "del", base)
    selfp = path_of(r3["links"]["self"])
    req("DELETE", EDGE, selfp, creds=ALICE)
    say("7 second delete", req("DELETE", EDGE, selfp, creds=ALICE)[0])
    say("7 GET after delete", req("GET", EDGE, selfp, creds=ALICE)[0])
    s, r4 = create(EDGE, "typo", dict(base, cooldown=300))
    say("7 misspelled cooldown", f"{s} {r4.get('fieldName') or r4.get('scaleServiceConfig', {}).get('cooldownSeconds')}")
    ring2 = "gone " + base64.urlsafe_b64encode(b"\x09" * 32).decode().rstrip("=")
    # unknown kid vs bad signature messages
    bad_sig = tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB")
    kid_tok = tok.replace("hg1.t1.", "hg1.zz.")
    m1 = json.loads(req("POST", EDGE, f"/v1-webhooks/endpoint?token={bad_sig}")[2])["message"]
    m2 = json.loads(req("POST", EDGE, f"/v1-webhooks/endpoint?token={kid_tok}")[2])["message"]
    say("7 401 messages alike (bad signature vs unknown key id)", m1 == m2)
    s, h, d = req("PUT", EDGE, "/v1-webhooks/receivers?projectId=1a5", "{}", creds=ALICE)
    say("7 405 Allow on PUT /receivers", h.get("allow") or h.get("Allow"))

    # RSS: huge alert identities
    s, rh = create(EDGE, "huge", base)
    for _ in range(20):
        req("POST", EDGE, path_of(rh["url"]), firing)
    r0 = rss(edge.pid)
    hugev = "f" * 500000
    body = json.dumps({"status": "firing", "alerts": [{"fingerprint": hugev + str(i), "startsAt": hugev} for i in range(1)]})
    for i in range(300):
        b2 = body.replace('"fingerprint": "f', f'"fingerprint": "{i}', 1)
        req("POST", EDGE, path_of(rh["url"]), b2)
    say("4a RSS growth after 300 huge-identity alerts (MB)", rss(edge.pid) - r0)

    # RSS: stalled unauthenticated API bodies
    r0 = rss(edge.pid)
    socks = []
    chunk = b"x" * (1 << 20)
    for i in range(300):
        sk = socket.create_connection(("127.0.0.1", EDGE))
        sk.sendall(b"POST /v1-webhooks/receivers?projectId=1a5 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n")
        sk.settimeout(0.5)
        try:
            sk.sendall(chunk[:-64])
        except OSError:
            pass
        socks.append(sk)
    time.sleep(1.5)
    say("4b RSS growth with 300 stalled unauthenticated 1 MiB bodies (MB)", rss(edge.pid) - r0)
    for sk in socks:
        sk.close()
finally:
    edge.terminate(); edge.wait(); time.sleep(0.2)
    err = bytes(LOGS[edge.pid])
    say("8 ANSI colour in piped log", b"\x1b[" in err)
    say("8 log lines for 2,000 unknown keys", err.count(b"refused") + err.count(b"revoked/does not exist"))

# wrong secret
bad = serve(["--listen", f"127.0.0.1:{EDGE}"], {"CATTLE_SECRET_KEY": "wrong"}, stderr=subprocess.PIPE)
wait(EDGE)
try:
    s, rec = create(EDGE, "ws", {"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 100})
    s, h, d = req("POST", EDGE, path_of(rec["url"]))
    say("7 trigger with a wrong CATTLE_SECRET_KEY", f"{s} {json.loads(d)['message'][:70]}")
finally:
    bad.terminate(); bad.wait(); time.sleep(0.2)
    err = bytes(LOGS[bad.pid]).decode()
    say("7 start-up names CATTLE_SECRET_KEY", "CATTLE_SECRET_KEY" in err)

# proxy mode
if NEW:
    px = serve(["--behind-cattle-proxy", "--api-listen", f"127.0.0.1:{API}", "--listen", f"127.0.0.1:{PUB}"])
    wait(API); wait(PUB)
    port_api, port_pub = API, PUB
else:
    px = serve(["--behind-cattle-proxy", "--listen", f"127.0.0.1:{API}"])
    wait(API)
    port_api, port_pub = API, API
try:
    body = json.dumps({"name": "stranger", "driver": "scaleService", "scaleServiceConfig": {"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 100}})
    s, h, d = req("POST", port_api, "/v1-webhooks/receivers?projectId=1a5", body)
    say("3 proxy mode: create with no credentials and no X-API headers", s)
    s, h, d = req("GET", port_pub, "/v1-webhooks/receivers?projectId=1a5", headers={"X-API-Project-Id": "1a5", "X-API-Roles": "owner"})
    say("3 proxy mode: API on the public listener", s)
finally:
    px.terminate(); px.wait()
sim.terminate(); sim.wait()
