#!/usr/bin/env node
/*
 * Loopback Cloud Storage (JSON API) emulator for Beam's GcsFileSystem tests.
 *
 * Runs the Cloud Storage emulator of the npm package firebase-tools in-process
 * (no rules runtime, nothing downloaded: every request is handled with admin
 * rights) and puts a thin HTTP layer in front of it that adds what Beam needs
 * and firebase-tools lacks:
 *   - the JSON API batch endpoint  POST /batch/storage/v1  (multipart/mixed),
 *     used by Beam for copy (rewrite), rename and delete and for batched GETs;
 *   - multi-chunk resumable uploads (Content-Range / 308 Resume Incomplete);
 *   - bucket insert / get / list / delete  (POST|GET /storage/v1/b[/NAME]);
 *   - the /storage/v1 path prefix for every object route.
 *
 * Usage: node gcs-emulator.js [--port N] [--host 127.0.0.1] [--data-dir DIR]
 *                             [--project P] [--bucket NAME]...
 * Env:   GCS_EMULATOR_DEBUG=1 logs every request.
 */
"use strict";

const http = require("http");
const os = require("os");
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const zlib = require("zlib");

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const out = { port: 4443, host: "127.0.0.1", dataDir: null, project: "gcs-emulator", buckets: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === "--port") out.port = Number(next());
    else if (a === "--host") out.host = next();
    else if (a === "--data-dir") out.dataDir = next();
    else if (a === "--project") out.project = next();
    else if (a === "--bucket") out.buckets.push(next());
    else if (a === "-h" || a === "--help") {
      console.log("usage: node gcs-emulator.js [--port N] [--host H] [--data-dir DIR] [--project P] [--bucket NAME]...");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(out.port) || out.port <= 0 || out.port > 65535) throw new Error("bad --port");
  if (!out.dataDir) out.dataDir = path.join(os.tmpdir(), `gcs-emulator-${out.port}`);
  return out;
}
const args = parseArgs(process.argv.slice(2));
const DEBUG = !!process.env.GCS_EMULATOR_DEBUG;

// Keep firebase-tools from phoning home (usage tracking) and from looking for
// a Firebase project configuration.
process.env.FIREBASE_CLI_DISABLE_UPDATE_CHECK = "true";
process.env.FIREBASE_CLI_EXPERIMENTS = process.env.FIREBASE_CLI_EXPERIMENTS || "";

// ---------------------------------------------------------------- firebase-tools internals
const FB_LIB = path.join(path.dirname(require.resolve("firebase-tools/package.json", { paths: [__dirname] })), "lib");
const fbRequire = (p) => require(path.join(FB_LIB, p));
const { StorageEmulator } = fbRequire("emulator/storage/index");
const { createApp } = fbRequire("emulator/storage/server");
const { EmulatorRegistry } = fbRequire("emulator/registry");
const { CloudStorageObjectMetadata, CloudStorageBucketMetadata } = fbRequire("emulator/storage/metadata");
const { NotFoundError } = fbRequire("emulator/storage/errors");

class LoopbackStorageEmulator extends StorageEmulator {
  getPersistenceTmpDir() {
    return path.join(args.dataDir, "blobs");
  }
  // Replaces StorageEmulator.start(): no rules runtime (it would download a jar),
  // no rules manager; we only use the admin storage layer, which ignores rules.
  async start() {
    this._app = await createApp(this.args.projectId, this);
  }
  async stop() {
    try {
      await this._persistence.deleteAll();
    } catch (e) {
      /* already gone */
    }
  }
}

const emulator = new LoopbackStorageEmulator({
  projectId: args.project,
  host: args.host,
  port: args.port,
  auto_download: false,
});
const storage = emulator.adminStorageLayer;
const uploads = emulator.uploadService;

// ---------------------------------------------------------------- helpers
// Reads a request body, undoing Content-Encoding (the Google API client for
// Java gzips JSON request bodies by default).
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const enc = String(req.headers["content-encoding"] || "identity").toLowerCase().trim();
      try {
        if (enc === "gzip" || enc === "x-gzip") resolve(zlib.gunzipSync(raw));
        else if (enc === "deflate") resolve(zlib.inflateSync(raw));
        else resolve(raw);
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}

function sendJson(res, status, obj, extraHeaders = {}) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, {
    "Content-Type": "application/json; charset=UTF-8",
    "Content-Length": body.length,
    ...extraHeaders,
  });
  res.end(body);
}

function sendError(res, status, message, reason) {
  sendJson(res, status, {
    error: { code: status, message, errors: [{ message, domain: "global", reason }] },
  });
}

function bucketExists(name) {
  return emulator._buckets.has(name);
}

function objectsIn(bucket) {
  let n = 0;
  for (const [, f] of emulator._files) if (f.metadata.bucket === bucket) n++;
  return n;
}

// ---------------------------------------------------------------- buckets
async function handleBuckets(req, res, url, rest) {
  // rest: "" (collection) or "/NAME"
  if (rest === "" || rest === "/") {
    if (req.method === "GET") {
      return sendJson(res, 200, { kind: "storage#buckets", items: [...emulator._buckets.values()] });
    }
    if (req.method === "POST") {
      let body;
      try {
        body = JSON.parse((await readBody(req)).toString("utf8") || "{}");
      } catch (e) {
        return sendError(res, 400, "Invalid JSON body", "invalid");
      }
      const name = body.name;
      if (!name) return sendError(res, 400, "Required: bucket name", "required");
      if (bucketExists(name)) {
        return sendError(res, 409, "Your previous request to create the named bucket succeeded and you already own it.", "conflict");
      }
      storage.createBucket(name);
      return sendJson(res, 200, emulator._buckets.get(name));
    }
    return sendError(res, 405, "Method not allowed", "methodNotAllowed");
  }
  const name = decodeURIComponent(rest.slice(1));
  if (req.method === "GET") {
    if (!bucketExists(name)) return sendError(res, 404, "The specified bucket does not exist.", "notFound");
    return sendJson(res, 200, emulator._buckets.get(name));
  }
  if (req.method === "DELETE") {
    if (!bucketExists(name)) return sendError(res, 404, "The specified bucket does not exist.", "notFound");
    if (objectsIn(name) > 0) return sendError(res, 409, "The bucket you tried to delete is not empty.", "conflict");
    emulator._buckets.delete(name);
    res.writeHead(204);
    return res.end();
  }
  return sendError(res, 405, "Method not allowed", "methodNotAllowed");
}

// ---------------------------------------------------------------- resumable uploads
// firebase-tools appends the body of the first PUT and finalizes the upload at
// once, so every chunk after the first is lost. This implements the protocol:
//   PUT ...&upload_id=ID  Content-Range: bytes A-B/TOTAL|*   (data chunk)
//   PUT ...&upload_id=ID  Content-Range: bytes */TOTAL|*     (query / finalize)
// answering 308 + "Range: bytes=0-N" until TOTAL bytes are in, then 200 + object.
async function handleResumablePut(req, res, url) {
  const uploadId = url.searchParams.get("upload_id");
  const data = await readBody(req);
  let upload;
  try {
    upload = uploads.getResumableUpload(uploadId);
  } catch (e) {
    if (e instanceof NotFoundError) return sendError(res, 404, "No such upload", "notFound");
    throw e;
  }
  if (upload.status === "final") {
    // Already finished (e.g. a retried last chunk): answer with the object.
    const md = storage.getMetadata(upload.bucketId, upload.objectId);
    if (md) return sendJson(res, 200, new CloudStorageObjectMetadata(md));
    return sendError(res, 410, "Upload already finalized", "gone");
  }
  if (upload.status !== "active") return sendError(res, 410, "Upload was cancelled", "gone");

  const cr = req.headers["content-range"];
  let total = null;
  if (!cr) {
    // Single request carrying the whole object.
    uploads.continueResumableUpload(uploadId, data);
    total = upload.size;
  } else {
    const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i.exec(cr);
    if (!m) return sendError(res, 400, `Bad Content-Range: ${cr}`, "invalid");
    if (m[3] !== "*") total = Number(m[3]);
    if (m[1] !== undefined) {
      const first = Number(m[1]);
      const last = Number(m[2]);
      if (last - first + 1 !== data.length) {
        return sendError(res, 400, `Content-Range ${cr} does not match body length ${data.length}`, "invalid");
      }
      if (first > upload.size) {
        // Gap: tell the client what we have so that it resends.
        return sendIncomplete(res, upload);
      }
      const skip = upload.size - first; // bytes already received (retried chunk)
      if (skip < data.length) uploads.continueResumableUpload(uploadId, data.subarray(skip));
    }
  }
  if (total !== null && upload.size > total) {
    return sendError(res, 400, `Received ${upload.size} bytes, more than the declared total ${total}`, "invalid");
  }
  if (total === null || upload.size < total) return sendIncomplete(res, upload);

  uploads.finalizeResumableUpload(uploadId);
  const metadata = await storage.uploadObject(upload);
  return sendJson(res, 200, new CloudStorageObjectMetadata(metadata));
}

function sendIncomplete(res, upload) {
  const headers = { "Content-Length": 0, "X-GUploader-UploadID": upload.id };
  if (upload.size > 0) headers["Range"] = `bytes=0-${upload.size - 1}`;
  res.writeHead(308, headers);
  res.end();
}

// ---------------------------------------------------------------- batch endpoint
function indexOfBuf(buf, needle, from) {
  return buf.indexOf(needle, from);
}

// Splits a multipart body into parts (Buffers without the surrounding CRLFs).
function splitMultipart(body, boundary) {
  const delim = Buffer.from(`--${boundary}`);
  const parts = [];
  let pos = indexOfBuf(body, delim, 0);
  if (pos < 0) throw new Error("boundary not found in batch body");
  while (true) {
    pos += delim.length;
    if (body.slice(pos, pos + 2).toString() === "--") break; // closing delimiter
    // skip transport padding + CRLF after the delimiter
    const eol = indexOfBuf(body, "\n", pos);
    if (eol < 0) break;
    const start = eol + 1;
    const nextDelim = indexOfBuf(body, Buffer.concat([Buffer.from("\n"), delim]), start);
    if (nextDelim < 0) throw new Error("unterminated multipart part");
    let end = nextDelim; // points at "\n" before "--boundary"
    if (end > start && body[end - 1] === 0x0d) end--; // strip the "\r"
    parts.push(body.subarray(start, end));
    pos = nextDelim + 1;
  }
  return parts;
}

// Parses "headers CRLF CRLF body" -> { headers: [[name, value]], body }
function splitHeadersBody(buf) {
  let sep = indexOfBuf(buf, "\r\n\r\n", 0);
  let sepLen = 4;
  const lf = indexOfBuf(buf, "\n\n", 0);
  if (sep < 0 || (lf >= 0 && lf < sep)) {
    sep = lf;
    sepLen = 2;
  }
  const head = sep < 0 ? buf.toString("latin1") : buf.subarray(0, sep).toString("latin1");
  const body = sep < 0 ? Buffer.alloc(0) : buf.subarray(sep + sepLen);
  const lines = head.split(/\r?\n/);
  return { lines, body };
}

function parseSubRequest(part) {
  const outer = splitHeadersBody(part); // part headers (Content-Type: application/http, Content-ID...)
  const outerHeaders = {};
  for (const l of outer.lines) {
    const i = l.indexOf(":");
    if (i > 0) outerHeaders[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const inner = splitHeadersBody(outer.body);
  const requestLine = inner.lines.shift();
  const m = /^(\S+)\s+(\S+)(?:\s+HTTP\/[\d.]+)?$/.exec(requestLine.trim());
  if (!m) throw new Error(`bad request line in batch part: ${requestLine}`);
  const headers = {};
  for (const l of inner.lines) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = inner.body;
  if (headers["content-length"] !== undefined) {
    body = body.subarray(0, Number(headers["content-length"]));
  }
  const u = new URL(m[2], "http://localhost");
  return { contentId: outerHeaders["content-id"], method: m[1].toUpperCase(), path: u.pathname + u.search, headers, body };
}

function dispatchLocally(sub) {
  return new Promise((resolve, reject) => {
    const headers = { ...sub.headers };
    delete headers["host"];
    delete headers["transfer-encoding"];
    delete headers["connection"];
    headers["content-length"] = String(sub.body.length);
    const r = http.request(
      { host: "127.0.0.1", port: server.address().port, method: sub.method, path: sub.path, headers, agent: localAgent },
      (resp) => {
        const chunks = [];
        resp.on("data", (c) => chunks.push(c));
        resp.on("end", () => resolve({ status: resp.statusCode, message: resp.statusMessage, headers: resp.headers, body: Buffer.concat(chunks) }));
        resp.on("error", reject);
      }
    );
    r.on("error", reject);
    r.end(sub.body);
  });
}
const localAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });

async function handleBatch(req, res) {
  const ct = req.headers["content-type"] || "";
  const bm = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(ct);
  if (!/^multipart\/mixed/i.test(ct) || !bm) return sendError(res, 400, "Batch request must be multipart/mixed with a boundary", "invalid");
  const boundary = (bm[1] || bm[2]).trim();
  const body = await readBody(req);
  let subs;
  try {
    subs = splitMultipart(body, boundary).map(parseSubRequest);
  } catch (e) {
    return sendError(res, 400, `Cannot parse batch request: ${e.message}`, "invalid");
  }
  if (subs.length > 1000) return sendError(res, 400, "Too many requests in batch (max 1000)", "invalid");
  // Sub-requests are independent (as in GCS); run them with a little concurrency
  // but answer in request order, which the Java client relies on.
  const results = new Array(subs.length);
  let next = 0;
  async function worker() {
    while (next < subs.length) {
      const i = next++;
      try {
        results[i] = await dispatchLocally(subs[i]);
      } catch (e) {
        const b = Buffer.from(JSON.stringify({ error: { code: 500, message: String(e) } }));
        results[i] = { status: 500, message: "Internal Server Error", headers: { "content-type": "application/json" }, body: b };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(4, subs.length) }, worker));

  const outBoundary = `batch_${crypto.randomBytes(12).toString("hex")}`;
  const chunks = [];
  subs.forEach((sub, i) => {
    const r = results[i];
    const cid = sub.contentId ? sub.contentId.replace(/^<|>$/g, "") : String(i + 1);
    let head = `--${outBoundary}\r\nContent-Type: application/http\r\nContent-ID: <response-${cid}>\r\n\r\n`;
    head += `HTTP/1.1 ${r.status} ${r.message || http.STATUS_CODES[r.status] || ""}\r\n`;
    for (const h of ["content-type", "etag", "location", "range", "x-goog-generation", "x-goog-metageneration"]) {
      if (r.headers[h] !== undefined) head += `${canonical(h)}: ${r.headers[h]}\r\n`;
    }
    head += `Content-Length: ${r.body.length}\r\n\r\n`;
    chunks.push(Buffer.from(head, "latin1"), r.body, Buffer.from("\r\n"));
  });
  chunks.push(Buffer.from(`--${outBoundary}--\r\n`));
  const out = Buffer.concat(chunks);
  res.writeHead(200, { "Content-Type": `multipart/mixed; boundary=${outBoundary}`, "Content-Length": out.length });
  res.end(out);
}

function canonical(h) {
  return h.replace(/(^|-)([a-z])/g, (_, d, c) => d + c.toUpperCase());
}

// ---------------------------------------------------------------- front router
let app;
async function route(req, res) {
  const url = new URL(req.url, "http://localhost");
  const p = url.pathname;
  if (DEBUG) console.log(`${new Date().toISOString()} ${req.method} ${req.url} ${req.headers["content-range"] || ""}`);

  if (req.method === "GET" && (p === "/" || p === "/_health")) {
    return sendJson(res, 200, { ok: true, emulator: "gcs-emulator (firebase-tools storage)" });
  }
  if (req.method === "POST" && /^\/batch(\/storage\/v1)?\/?$/.test(p)) {
    return handleBatch(req, res);
  }
  if (req.method === "PUT" && /^\/upload\/storage\/v1\/b\/[^/]+\/o\/?$/.test(p) && url.searchParams.get("upload_id")) {
    return handleResumablePut(req, res, url);
  }
  if (req.method === "DELETE" && /^\/upload\/storage\/v1\/b\/[^/]+\/o\/?$/.test(p) && url.searchParams.get("upload_id")) {
    try {
      uploads.cancelResumableUpload(url.searchParams.get("upload_id"));
    } catch (e) {
      /* ignore */
    }
    res.writeHead(499, { "Content-Length": 0 });
    return res.end();
  }
  const bm = /^(?:\/storage\/v1)?\/b(\/[^/]*)?\/?$/.exec(p);
  if (bm) return handleBuckets(req, res, url, bm[1] || "");

  // Everything else goes to firebase-tools' emulator, which serves object
  // routes without the /storage/v1 prefix.
  if (p.startsWith("/storage/v1/")) {
    req.url = req.url.slice("/storage/v1".length);
  }
  // A request for an object in a bucket that was never created would silently
  // create it (firebase-tools behaviour); we keep that leniency.
  return app(req, res);
}

// ---------------------------------------------------------------- start
const server = http.createServer((req, res) => {
  route(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) sendError(res, 500, String((e && e.message) || e), "backendError");
    else res.destroy();
  });
});
server.keepAliveTimeout = 65000;

async function main() {
  fs.mkdirSync(args.dataDir, { recursive: true });
  EmulatorRegistry.set(emulator.getName(), emulator); // used to build selfLinks
  await emulator.start();
  app = emulator.getApp();
  for (const b of args.buckets) storage.createBucket(b);
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(args.port, args.host, resolve);
  });
  console.log(`gcs-emulator listening on http://${args.host}:${server.address().port}/storage/v1/ (data: ${args.dataDir}, pid ${process.pid})`);
}

let stopping = false;
async function shutdown(sig) {
  if (stopping) return;
  stopping = true;
  console.log(`gcs-emulator: ${sig}, stopping`);
  server.close();
  localAgent.destroy();
  await emulator.stop();
  process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

main().catch((e) => {
  console.error(`gcs-emulator failed to start: ${(e && e.stack) || e}`);
  process.exit(1);
});
