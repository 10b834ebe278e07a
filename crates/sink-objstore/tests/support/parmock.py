#!/usr/bin/env python3
"""A stand-in for OCI Object Storage pre-authenticated requests (GEO.md §5).

Not authoritative for OCI behaviour; it follows the documented protocol for
what labelstore's tests need:

  PUT  /p/<token>/n/<ns>/b/<bucket>/o/<name>      create or overwrite an object
       (with `opc-multipart: true` and an empty body: start a multipart
       upload, answer JSON with a new secret `accessUri`)
  GET/HEAD /p/<token>/n/<ns>/b/<bucket>/o/<name>  read an object
  GET  /p/<token>/n/<ns>/b/<bucket>/o/?prefix=P   list (JSON {"objects": [...]}; pages of
       `limit` names from `start`, with `nextStartWith`, as ListObjects)
  PUT  <accessUri><part-number>                   upload a part
  POST <accessUri>                                commit the parts (ascending)
  DELETE <accessUri>                              abort

Tokens are given as `TOKEN=PREFIX` (PREFIX may be empty: the whole bucket);
a request with an unknown token, or for a name outside its token's prefix,
gets 404 NotAuthorizedOrNotFound, as OCI answers for a wrong, expired or
out-of-scope PAR. Objects are files under ROOT/<ns>/<bucket>/.

Test hooks (never part of OCI): `POST /_control/fail?status=S&count=N`
makes the next N object requests answer S (after K good ones with `&after=K`); `POST /_control/delay?seconds=F&count=N`
delays the next N; `GET /_control/stats` gives request counts by method and
kind; `POST /_control/reset` clears counts and faults.

Usage: parmock.py PORT ROOT TOKEN=PREFIX [TOKEN=PREFIX ...]
"""
import hashlib, base64, json, os, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit, parse_qs

PORT, ROOT = int(sys.argv[1]), sys.argv[2]
TOKENS = dict(a.split("=", 1) for a in sys.argv[3:])
UPLOADS = {}  # upload token -> dict(ns, bucket, object, id, parts={n: bytes}, ctype)
LOCK = threading.Lock()
FAULTS = {"status": 0, "count": 0, "after": 0, "delay": 0.0, "delay_count": 0}
STATS = {}
CTYPES = {}  # object path -> Content-Type it was stored with


def count(key):
    with LOCK:
        STATS[key] = STATS.get(key, 0) + 1


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("opc-request-id", uuid.uuid4().hex)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, {"code": code, "message": message})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        chunks, left = [], n
        while left > 0:
            c = self.rfile.read(min(left, 1 << 20))
            if not c:
                break
            chunks.append(c)
            left -= len(c)
        return b"".join(chunks)

    def control(self, path, query):
        if path == "/_control/fail":
            FAULTS["status"] = int(query.get("status", ["500"])[0])
            FAULTS["count"] = int(query.get("count", ["1"])[0])
            FAULTS["after"] = int(query.get("after", ["0"])[0])
        elif path == "/_control/delay":
            FAULTS["delay"] = float(query.get("seconds", ["1"])[0])
            FAULTS["delay_count"] = int(query.get("count", ["1"])[0])
        elif path == "/_control/reset":
            FAULTS.update(status=0, count=0, after=0, delay=0.0, delay_count=0)
            STATS.clear()
        elif path == "/_control/stats":
            return self.reply(200, STATS)
        else:
            return self.error(404, "NotFound", "no such control")
        self.reply(200, {})

    def fault(self):
        with LOCK:
            delay = 0.0
            if FAULTS["delay_count"] > 0:
                FAULTS["delay_count"] -= 1
                delay = FAULTS["delay"]
            status = 0
            if FAULTS["after"] > 0:
                FAULTS["after"] -= 1
            elif FAULTS["count"] > 0:
                FAULTS["count"] -= 1
                status = FAULTS["status"]
        if delay:
            time.sleep(delay)
        if status:
            self.body()
            self.error(status, "InternalServerError" if status >= 500 else "TooManyRequests",
                       "injected fault")
            return True
        return False

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path.startswith("/_control/"):
            return self.control(url.path, query)
        parts = url.path.split("/")
        # ['', 'p', token, 'n', ns, 'b', bucket, 'o'|'u', ...]
        if len(parts) < 8 or parts[1] != "p" or parts[3] != "n" or parts[5] != "b":
            self.body()
            return self.error(404, "NotAuthorizedOrNotFound", "not a PAR path")
        token, ns, bucket, kind = parts[2], parts[4], parts[6], parts[7]
        count(f"{self.command} {kind}")
        if self.fault():
            return
        if kind == "o" and token in TOKENS:
            name = unquote("/".join(parts[8:]))
            return self.object(ns, bucket, name, TOKENS[token], query)
        if kind == "u":
            with LOCK:
                up = UPLOADS.get(token)
            if up is not None:
                return self.upload(up, token, parts)
        self.body()
        self.error(404, "NotAuthorizedOrNotFound",
                   "Either the bucket/object does not exist or you are not authorized")

    def object(self, ns, bucket, name, scope, query):
        base = os.path.join(ROOT, ns, bucket)
        if name == "" and self.command == "GET":
            prefix = query.get("prefix", [""])[0]
            if not prefix.startswith(scope) and not scope.startswith(prefix):
                return self.error(404, "NotAuthorizedOrNotFound", "out of scope")
            objects = []
            for d, _, files in os.walk(base):
                for f in files:
                    if ".part-" in f:
                        continue
                    full = os.path.join(d, f)
                    n = os.path.relpath(full, base)
                    if n.startswith(prefix) and n.startswith(scope):
                        with open(full, "rb") as fh:
                            md5 = base64.b64encode(hashlib.md5(fh.read()).digest()).decode()
                        objects.append({"name": n, "size": os.path.getsize(full), "md5": md5})
            objects.sort(key=lambda o: o["name"])
            # ListObjects pages: names from `start` on, at most `limit`
            # (default 1000), and `nextStartWith` naming the next page's first.
            start = query.get("start", [""])[0]
            limit = max(1, min(1000, int(query.get("limit", ["1000"])[0] or 1000)))
            objects = [o for o in objects if o["name"] >= start]
            page = {"objects": objects[:limit]}
            if len(objects) > limit:
                page["nextStartWith"] = objects[limit]["name"]
            return self.reply(200, page)
        if not name.startswith(scope) or name == "" or ".." in name.split("/"):
            self.body()
            return self.error(404, "NotAuthorizedOrNotFound", "out of scope")
        path = os.path.join(base, name)
        if self.command == "PUT":
            if self.headers.get("opc-multipart", "").lower() == "true":
                self.body()
                up_token = uuid.uuid4().hex + uuid.uuid4().hex
                up_id = uuid.uuid4().hex
                with LOCK:
                    UPLOADS[up_token] = {"path": path, "id": up_id, "parts": {},
                                         "ctype": self.headers.get("Content-Type", "")}
                access = f"/p/{up_token}/n/{ns}/b/{bucket}/u/{name}/id/{up_id}/"
                return self.reply(200, {"namespace": ns, "bucket": bucket, "object": name,
                                        "uploadId": up_id, "accessUri": access,
                                        "timeCreated": "2026-01-01T00:00:00Z",
                                        "storageTier": "Standard"})
            data = self.body()
            if len(data) != int(self.headers.get("Content-Length") or 0):
                return self.error(400, "InvalidParameter", "short body")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".part-" + uuid.uuid4().hex
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            CTYPES[path] = self.headers.get("Content-Type", "")
            md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
            return self.reply(200, b"", headers={"opc-content-md5": md5, "ETag": uuid.uuid4().hex})
        if self.command in ("GET", "HEAD"):
            if not os.path.isfile(path):
                return self.error(404, "NotAuthorizedOrNotFound", "no such object")
            with open(path, "rb") as f:
                data = f.read()
            return self.reply(200, data, ctype=CTYPES.get(path) or "application/octet-stream")
        self.body()
        self.error(405, "MethodNotAllowed", "not through a PAR")

    def upload(self, up, token, parts):
        # ['', 'p', tok, 'n', ns, 'b', bucket, 'u', <object...>, 'id', <uploadId>, <part or ''>]
        try:
            i = len(parts) - 1 - parts[::-1].index("id")
        except ValueError:
            return self.error(404, "NotAuthorizedOrNotFound", "bad upload path")
        if parts[i + 1] != up["id"]:
            return self.error(404, "NotAuthorizedOrNotFound", "bad upload id")
        part = parts[i + 2] if len(parts) > i + 2 else ""
        if self.command == "PUT" and part:
            data = self.body()
            with LOCK:
                up["parts"][int(part)] = data
            return self.reply(200, b"", headers={"ETag": hashlib.md5(data).hexdigest()})
        self.body()
        if self.command == "POST" and not part:
            with LOCK:
                UPLOADS.pop(token, None)
            os.makedirs(os.path.dirname(up["path"]), exist_ok=True)
            with open(up["path"], "wb") as f:
                for n in sorted(up["parts"]):
                    f.write(up["parts"][n])
            CTYPES[up["path"]] = up["ctype"]
            return self.reply(200, b"")
        if self.command == "DELETE" and not part:
            with LOCK:
                UPLOADS.pop(token, None)
            return self.reply(204, b"")
        self.error(400, "InvalidParameter", "bad multipart request")

    do_PUT = do_GET = do_HEAD = do_POST = do_DELETE = handle_any


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), H)
    server.daemon_threads = True
    print(f"parmock on 127.0.0.1:{PORT}", flush=True)
    server.serve_forever()
