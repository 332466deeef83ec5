// harness.mjs - what the browser tests share: a real cameo on a free
// loopback port (its own data directory, killed afterwards) and headless
// Chromium (Debian's /usr/bin/chromium) driven by playwright-core, which
// npm ci installed into the build directory (CAMEO_NPM_DIR).
//
// Every wait is on a condition with a bounded timeout, never a sleep.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(path.join(process.env.CAMEO_NPM_DIR || '.', 'node_modules', '/'));
export const { chromium } = require('playwright-core');

export const TOKEN = 'browser-test-admin-token-0123456789';
export const OUT_DIR = process.env.CAMEO_TEST_OUT || os.tmpdir();

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function until(what, fn, timeoutMs = 10000, everyMs = 25) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ': ' + last.message : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
/** Starts cameo (with --seed-demo unless seed is false). */
export async function startCameo({ seed = true, args = [] } = {}) {
  const bin = process.env.CAMEO_BIN;
  if (!bin) throw new Error('CAMEO_BIN is not set');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cameo-browser-'));
  const port = await freePort();
  const argv = ['serve', '--listen', `127.0.0.1:${port}`, '--data', dir, '--workers', '2', '--admin-token', TOKEN];
  if (seed) argv.push('--seed-demo');
  const proc = spawn(bin, argv.concat(args), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20000)));
  proc.stdout.resume();
  const base = `http://127.0.0.1:${port}`;
  await until('cameo /healthz', async () => {
    if (proc.exitCode !== null) throw new Error(`cameo exited ${proc.exitCode}: ${stderr.slice(-2000)}`);
    return (await fetch(base + '/healthz')).ok;
  }, 20000);
  return {
    base,
    port,
    proc,
    stderr: () => stderr,
    async admin(method, p, body, type = 'application/json') {
      const res = await fetch(base + p, {
        method,
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': type },
        body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
      });
      return { status: res.status, body: await res.text() };
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await until('cameo to exit', () => proc.exitCode !== null || proc.signalCode !== null, 8000).catch(() => proc.kill('SIGKILL'));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium with the flags the tests need. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CAMEO_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30000,
  });
}

/** A small PNG (w x h, one colour) made here, for uploads. */
export function png(rgb = [255, 0, 0], w = 4, h = 4) {
  const zlib = require('node:zlib');
  const crcTable = [];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crcTable[n] = c >>> 0;
  }
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(rgb, y * (1 + 3 * w) + 1 + 3 * x);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Waits until /demo has painted every avatar.
function demoReady(page) {
  return page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 20000 });
}

/** Opens /demo and waits until every avatar is painted. */
export async function openDemo(page, cameo, query = '') {
  await page.goto(cameo.base + '/demo' + query);
  await demoReady(page);
}

/** Reloads /demo and waits until every avatar is painted. */
export async function reloadDemo(page) {
  await page.reload();
  await demoReady(page);
}

/** Each picture of the page: its user, whether it decoded, and its source kind. */
export async function pictures(page, selector = '#friends img') {
  return page.$$eval(selector, (imgs) =>
    imgs.map((img) => ({
      user: img.dataset.cameoUser,
      ok: img.complete && img.naturalWidth > 0,
      src: img.src.slice(0, 30),
    })),
  );
}

/** Requests cameo answered on route (cameo_requests_total{route}, all codes):
 * what really reached the server, whatever the browser's layers did. */
export async function served(cameo, route) {
  const text = await (await fetch(cameo.base + '/metrics')).text();
  let n = 0;
  for (const m of text.matchAll(/^cameo_requests_total\{route="([a-z_]+)",code="[^"]*"\} (\d+)$/gm)) {
    if (m[1] === route) n += Number(m[2]);
  }
  return n;
}

/** Waits until the service worker is active: it controls the pages loaded
 * from then on (it does not claim the page that registered it). */
export async function swActive(page) {
  await page.waitForFunction(
    async () => (await navigator.serviceWorker.getRegistration())?.active?.state === 'activated',
    null,
    { timeout: 15000 },
  );
}
