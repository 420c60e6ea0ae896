// Shared by the Node SDK acceptance tests: the real gemini-gateway binary in front of the
// gemini-sim binary, both on free loopback ports, and gemini-sim's control API.
// Binaries: $GATEWAY_BIN / $SIM_BIN, else <repo>/target/debug/{gemini-gateway,gemini-sim}.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..', '..');
const DEBUG_DIR = path.join(REPO_ROOT, 'target', 'debug');
export const READY_TIMEOUT_MS = 20_000;

// Variables the gateway reads that must not leak in from the caller's environment (as conftest.py).
const GATEWAY_ENV = [
  'GEMINI_GATEWAY_CONFIG', 'GEMINI_API_KEYS', 'PASSWORD', 'ADMIN_API_KEY', 'SECRET_KEY',
  'GEMINI_BASE_URL', 'AUTH', 'HOST', 'PORT', 'ADMIN_PORT', 'MAX_REQUESTS_PER_MINUTE',
  'MAX_REQUESTS_PER_DAY_PER_IP', 'MAX_BODY_BYTES', 'LOG_LEVEL', 'RUST_LOG',
  'ENFORCE_MODEL_LIMITS', 'MODEL_LIMITS_PATH',
];

export function binary(envName, name) {
  const p = process.env[envName] || path.join(DEBUG_DIR, name);
  if (!existsSync(p)) {
    throw new Error(`${name} not found at ${p}: run \`cargo build --bins\` in ${REPO_ROOT} or set $${envName}`);
  }
  return p;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setTimeout(200);
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => { sock.destroy(); resolve(false); });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A child process whose output is kept (last 20 kB) for failure messages. */
export class Child {
  constructor(name, argv, env) {
    this.name = name;
    this.log = '';
    this.proc = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b) => { this.log = (this.log + b.toString()).slice(-20_000); };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.once('exit', resolve));
  }

  async waitReady(ports) {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (const port of ports) {
      while (!(await portOpen(port))) {
        if (this.proc.exitCode !== null) {
          throw new Error(`${this.name} exited with ${this.proc.exitCode} before listening:\n${this.log}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`${this.name} did not open port ${port} in ${READY_TIMEOUT_MS} ms:\n${this.log}`);
        }
        await sleep(20);
      }
    }
  }

  /** SIGINT (Pingora's fast shutdown), then SIGKILL after 5 s. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGINT');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** gemini-sim's /_sim control API. */
export class Sim {
  constructor(port) {
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  async call(method, p) {
    const r = await fetch(this.baseUrl + p, { method, signal: AbortSignal.timeout(5_000) });
    assert.equal(r.status, 200, `gemini-sim control ${method} ${p} -> ${r.status}`);
    const text = await r.text();
    return text ? JSON.parse(text) : null;
  }

  reset() { return this.call('POST', '/_sim/reset'); }

  /** Recorded Gemini API requests, minus the gateway's startup key probes (GET models?pageSize=1). */
  async geminiCalls() {
    const all = await this.call('GET', '/_sim/requests');
    return all.filter((r) => !r.path.startsWith('/_sim') && !isProbe(r));
  }

  async probedKeys() {
    const all = await this.call('GET', '/_sim/requests');
    return new Set(all.filter(isProbe).map((r) => r.api_key));
  }
}

export const isProbe = (r) => r.path === '/v1beta/models' && r.query === 'pageSize=1';

export function header(record, name) {
  return record.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

/**
 * Start gemini-sim and a gateway in front of it (keys, password, admin key), wait until the
 * gateway's startup key check and model-list fetch are done; returns {sim, simProc, gwProc, port}.
 */
export async function startStack({ keys, password, adminKey }) {
  const simBin = binary('SIM_BIN', 'gemini-sim');
  const gwBin = binary('GATEWAY_BIN', 'gemini-gateway');
  let lastErr;
  let sim;
  let simProc;
  for (let i = 0; i < 3 && !sim; i++) { // a freed port can be taken before the child binds it
    const port = await freePort();
    simProc = new Child('gemini-sim', [simBin, '--listen', `127.0.0.1:${port}`], process.env);
    try {
      await simProc.waitReady([port]);
      sim = new Sim(port);
    } catch (e) {
      lastErr = e;
      await simProc.stop();
    }
  }
  if (!sim) throw lastErr;
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const adminPort = await freePort();
    if (port === adminPort) continue;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !GATEWAY_ENV.includes(k)));
    Object.assign(env, {
      GEMINI_API_KEYS: keys.join(','),
      PASSWORD: password,
      ADMIN_API_KEY: adminKey,
      GEMINI_BASE_URL: sim.baseUrl,
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: 'info',
      ENFORCE_MODEL_LIMITS: 'false', // not about quotas: the free-tier table would refuse the load
      MAX_REQUESTS_PER_MINUTE: '0', // every test runs from 127.0.0.1: the per-IP defaults (30/min) would refuse it
      MAX_REQUESTS_PER_DAY_PER_IP: '0',
      ENABLE_CONTEXT_COMPLETION: 'false', // one shared gateway: no conversation carried between tests
    });
    const gwProc = new Child('gemini-gateway', [gwBin], env);
    try {
      await gwProc.waitReady([port, adminPort]);
    } catch (e) {
      lastErr = e;
      await gwProc.stop();
      continue;
    }
    // The startup key check (one probe per key), then one model-list fetch: bounded wait.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !/model list (not )?fetched/.test(gwProc.log)) {
      await sleep(20);
    }
    return { sim, simProc, gwProc, port };
  }
  await simProc.stop();
  throw lastErr;
}
