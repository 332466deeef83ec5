// cameo-sw.js - the service worker of cameo's browser client (registered by
// cameo.js). It touches only cameo's own paths, and:
//   /v1/avatars/{id}/{v}       cache-first (the bytes never change under a version)
//   GET /v1/users/{id}         stale-while-revalidate
//   POST /v1/users:batch, GET /v1/users?...   network; their profiles are kept,
//                              and offline the batch is answered from them
//   /assets/{hash}/...         cache-first (immutable)
//   the rest of cameo's pages  network-first, the cached copy when offline
//   /v1/events, /metrics, /v1/stats, /healthz, /readyz, writes: not touched
// Offline, a picture never seen gets a placeholder (the initials when the
// profile is known, else a silhouette), never a broken image. Answers from
// the caches carry X-Cameo-SW (hit, or fallback) for fetch(), and the same as
// Server-Timing: cameo-sw;desc=... for Resource Timing (an <img> cannot read
// headers), so the client can tell which layer served it. Caches are bounded (entries and bytes, oldest
// first) and versioned: activate deletes the caches of other versions.
// postMessage({type: 'stats' | 'clear'}) with a MessagePort answers there.

const VERSION = 'v1';
const CACHES = {
  avatars: { name: `cameo-avatars-${VERSION}`, maxEntries: 2000, maxBytes: 64 << 20 },
  profiles: { name: `cameo-profiles-${VERSION}`, maxEntries: 5000, maxBytes: 16 << 20 },
  pages: { name: `cameo-pages-${VERSION}`, maxEntries: 200, maxBytes: 16 << 20 },
};
const TRIM_EVERY = 25; // puts between two bound checks of a cache
const stats = { hits: { avatars: 0, profiles: 0, pages: 0 }, network: 0, fallbacks: 0, trimmed: 0 };
const putsSinceTrim = { avatars: 0, profiles: 0, pages: 0 };

self.addEventListener('install', () => self.skipWaiting());

// No clients.claim(): a page loaded without the worker stays without it,
// and the worker controls from the next navigation on. Claiming mid-visit
// would make every picture the page shows again go through the worker once
// (Chromium does not reuse, for a controlled page, the images its memory
// cache got without a worker), for nothing the page lacks.
self.addEventListener('activate', (event) => {
  const keep = new Set(Object.values(CACHES).map((c) => c.name));
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('cameo-') && !keep.has(name)) await caches.delete(name);
      }
    })(),
  );
});

// ---- bounded caches ----

// Bumped by 'clear': a response fetched before a clear (a revalidation, a
// batch still in flight) must not land in the caches after it.
let generation = 0;

// The size of each stored entry, by URL, per kind: what put() stored, and
// what trim() read. The browser stops and restarts a worker at will while
// its caches stay, so an entry missing here has its size read from its
// X-Cameo-Bytes header (set by stamped()), once per run of the worker.
const sizes = { avatars: new Map(), profiles: new Map(), pages: new Map() };

async function put(kind, req, res, gen) {
  if (gen !== generation) return;
  try {
    const c = await caches.open(CACHES[kind].name);
    if (gen !== generation) return;
    await c.put(req, res);
    sizes[kind].set(req.url, bytesOf(res));
    if (++putsSinceTrim[kind] >= TRIM_EVERY) {
      putsSinceTrim[kind] = 0;
      await trim(kind);
    }
  } catch (e) {
    // quota exceeded or storage off: serving goes on without this cache
  }
}

function bytesOf(res) {
  return Number(res && res.headers.get('x-cameo-bytes')) || 0;
}

// Cache keys come back in insertion order: drop the oldest until within
// bounds. Only the entries of unknown size are read (their headers).
async function trim(kind) {
  const { name, maxEntries, maxBytes } = CACHES[kind];
  const c = await caches.open(name);
  const keys = await c.keys();
  const known = sizes[kind];
  const size = await Promise.all(keys.map((k) => (known.has(k.url) ? known.get(k.url) : c.match(k).then(bytesOf))));
  // Rebuilt from the keys: sizes of entries gone (a clear) go with them.
  const kept = new Map(keys.map((k, i) => [k.url, size[i]]));
  let n = keys.length;
  let bytes = size.reduce((a, b) => a + b, 0);
  for (let i = 0; i < keys.length && (n > maxEntries || bytes > maxBytes); i++) {
    await c.delete(keys[i]);
    kept.delete(keys[i].url);
    n--;
    bytes -= size[i];
    stats.trimmed++;
  }
  sizes[kind] = kept;
}

// A copy of res with its size recorded, to store.
async function stamped(res) {
  const body = await res.clone().arrayBuffer();
  const headers = new Headers(res.headers);
  headers.set('x-cameo-bytes', String(body.byteLength));
  return new Response(body, { status: res.status, statusText: res.statusText, headers });
}

// Headers marking an answer as served here (how: hit or fallback).
function markHeaders(headers, how) {
  headers.set('x-cameo-sw', how);
  headers.set('server-timing', `cameo-sw;desc=${how}`);
  return headers;
}

// A cached response marked as served here; the body streams through.
function marked(res, how) {
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers: markHeaders(new Headers(res.headers), how) });
}

function profileKey(id) {
  return new Request(`${self.registration.scope.replace(/\/$/, '')}/v1/users/${encodeURIComponent(id)}`);
}

function jsonResponse(doc, how) {
  const body = JSON.stringify(doc);
  return new Response(body, {
    headers: markHeaders(new Headers({ 'content-type': 'application/json', 'cache-control': 'no-cache' }), how),
  });
}

async function keepProfiles(list, gen) {
  for (const p of list) {
    if (p && typeof p.id === 'string') await put('profiles', profileKey(p.id), await stamped(jsonResponse(p, 'hit')), gen);
  }
}

async function cachedProfile(id) {
  try {
    const res = await caches.match(profileKey(id), { cacheName: CACHES.profiles.name });
    return res ? await res.json() : null;
  } catch (e) {
    return null;
  }
}

// ---- placeholders ----
// The same drawings as initialsSVG() and SILHOUETTE in cameo.js: this worker
// is a classic script (module workers are not in every browser), so it
// cannot import them; change both together.

// The same hue as the server's placeholder (cameo_initials_svg in src/core/core_media.c).
function hueOf(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % 360;
}

function initials(p, id) {
  const words = String((p && p.name) || id).split(/[^A-Za-z0-9]+/).filter(Boolean);
  if (!words.length) return '?';
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}

async function fallback(id) {
  stats.fallbacks++;
  const p = id ? await cachedProfile(id) : null;
  const svg = p
    ? '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">' +
      `<rect width="128" height="128" fill="hsl(${hueOf(id)},55%,45%)"/>` +
      '<text x="64" y="64" dy=".35em" text-anchor="middle" fill="#fff" ' +
      `font-family="Helvetica,Arial,sans-serif" font-size="52">${initials(p, id)}</text></svg>`
    : '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">' +
      '<rect width="128" height="128" fill="#c8ccd2"/><circle cx="64" cy="50" r="24" fill="#eef0f3"/>' +
      '<path d="M20 128c4-28 22-40 44-40s40 12 44 40z" fill="#eef0f3"/></svg>';
  return new Response(svg, {
    headers: markHeaders(new Headers({ 'content-type': 'image/svg+xml', 'cache-control': 'no-store' }), 'fallback'),
  });
}

// ---- strategies ----

// The cached answer to req in the cache of kind, marked and counted as a
// hit, or null.
async function fromCache(kind, req) {
  const hit = await caches.match(req, { cacheName: CACHES[kind].name }).catch(() => null);
  if (!hit) return null;
  stats.hits[kind]++;
  return marked(hit, 'hit');
}

// The network's answer to req, returned as soon as it arrives; a success is
// stored in the cache of kind meanwhile (event.waitUntil keeps the worker
// alive for it).
async function fromNetwork(kind, req, event, gen) {
  const res = await fetch(req);
  stats.network++;
  if (res.ok) event.waitUntil(stamped(res).then((r) => put(kind, req, r, gen)));
  return res;
}

async function cacheFirst(kind, req, event, onFail) {
  const gen = generation;
  const hit = await fromCache(kind, req);
  if (hit) return hit;
  try {
    return await fromNetwork(kind, req, event, gen);
  } catch (e) {
    if (onFail) return onFail();
    throw e;
  }
}

async function networkFirst(kind, req, event) {
  const gen = generation;
  try {
    return await fromNetwork(kind, req, event, gen);
  } catch (e) {
    const hit = await fromCache(kind, req);
    if (!hit) throw e;
    return hit;
  }
}

async function staleWhileRevalidate(req, event) {
  const gen = generation;
  const hit = await fromCache('profiles', req);
  const refresh = fetch(req).then(async (res) => {
    stats.network++;
    if (res.ok) await put('profiles', req, await stamped(res), gen);
    return res;
  });
  if (hit) {
    event.waitUntil(refresh.catch(() => {}));
    return hit;
  }
  return refresh;
}

async function batch(req, event) {
  const gen = generation;
  const body = await req.clone().text();
  try {
    const res = await fetch(req);
    stats.network++;
    if (res.ok) event.waitUntil(res.clone().json().then((d) => keepProfiles(Object.values(d.users || {}), gen)).catch(() => {}));
    return res;
  } catch (e) {
    // Offline: answer from the profiles kept, like the server would.
    let ids = [];
    try {
      ids = JSON.parse(body).ids || [];
    } catch (e2) {
      throw e;
    }
    const users = {};
    const missing = [];
    for (const id of ids) {
      const p = await cachedProfile(id);
      if (p) users[id] = p;
      else if (!missing.includes(id)) missing.push(id);
    }
    stats.hits.profiles++;
    return jsonResponse({ users, missing }, 'hit');
  }
}

async function listing(req, event) {
  const gen = generation;
  const res = await networkFirst('pages', req, event);
  if (!res.headers.get('x-cameo-sw') && res.ok) {
    event.waitUntil(res.clone().json().then((d) => keepProfiles(d.users || [], gen)).catch(() => {}));
  }
  return res;
}

const PASS = new Set(['/v1/events', '/metrics', '/v1/stats', '/healthz', '/readyz', '/cameo-sw.js']);
const PAGES = new Set(['/cameo.js', '/demo', '/dashboard']);

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const path = '/' + url.pathname.slice(scope.pathname.length);
  if (PASS.has(path)) return;
  let m;
  if (req.method === 'POST' && path === '/v1/users:batch') {
    event.respondWith(batch(req, event));
    return;
  }
  if (req.method !== 'GET') return; // writes go straight to cameo
  if ((m = path.match(/^\/v1\/avatars\/([^/]+)\/[^/]+$/))) {
    const id = decodeURIComponent(m[1]);
    event.respondWith(cacheFirst('avatars', req, event, () => fallback(id)));
  } else if ((m = path.match(/^\/v1\/users\/([^/]+)\/avatar$/))) {
    const id = decodeURIComponent(m[1]);
    event.respondWith(fetch(req).catch(() => fallback(id)));
  } else if (path.match(/^\/v1\/users\/[^/]+$/)) {
    event.respondWith(staleWhileRevalidate(req, event));
  } else if (path === '/v1/users') {
    event.respondWith(listing(req, event));
  } else if (path.startsWith('/assets/')) {
    event.respondWith(cacheFirst('pages', req, event));
  } else if (PAGES.has(path)) {
    event.respondWith(networkFirst('pages', req, event));
  }
  // anything else is not cameo's: untouched
});

self.addEventListener('message', (event) => {
  const port = event.ports && event.ports[0];
  const reply = (d) => (port ? port.postMessage(d) : event.source && event.source.postMessage(d));
  const type = event.data && event.data.type;
  if (type === 'clear') {
    generation++;
    event.waitUntil(
      (async () => {
        for (const name of await caches.keys()) if (name.startsWith('cameo-')) await caches.delete(name);
        reply({ type: 'cleared' });
      })(),
    );
  } else if (type === 'stats') {
    event.waitUntil(
      (async () => {
        const entries = {};
        for (const [kind, c] of Object.entries(CACHES)) {
          entries[kind] = (await (await caches.open(c.name)).keys()).length;
        }
        reply({ type: 'stats', version: VERSION, ...stats, entries });
      })(),
    );
  }
});
