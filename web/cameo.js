// cameo.js - the browser client of cameo: profiles and avatars through
// layers (memory, IndexedDB, the service worker, the network), batched
// profile reads, and live updates from GET /v1/events. An ES module with no
// build step: import { createCameo } from '/cameo.js'. See docs/browser.md.
//
// Layers, fastest first. A failure in any browser layer (IndexedDB blocked,
// quota exceeded, private mode, no service worker) falls through to the next
// one and never breaks the page.
//   memory      a bounded LRU of profiles and avatar bytes, per page
//   indexeddb   profiles and avatar blobs, bounded by entries and bytes, a
//               TTL per kind; survives reloads
//   serviceworker  /cameo-sw.js answered from its Cache API (it marks such
//               answers with X-Cameo-SW and Server-Timing), so it also works
//               offline
//   httpcache   the browser's HTTP cache (avatar URLs are versioned and
//               immutable)
//   network     cameo itself
//
// Pictures in <img> (paint, paintAll) take the shortest path: the <img>
// gets the versioned, immutable URL at once, and the browser's own layers
// (its memory cache, the service worker, its HTTP cache) serve the bytes;
// Resource Timing tells which one did. IndexedDB holds avatar bytes only
// for avatar(), which hands out object URLs.

const LAYERS = ['memory', 'indexeddb', 'serviceworker', 'httpcache', 'network'];
const EVENT_TYPES = ['profile.updated', 'profile.deleted', 'avatar.updated', 'avatar.deleted'];
const BATCH_MAX = 1000; // ids per POST /v1/users:batch, as the server allows

const DEFAULTS = {
  base: '',
  memoryEntries: 1000, // profiles and avatars, each
  idb: true,
  idbName: 'cameo',
  idbMaxEntries: 2000, // per kind
  idbMaxBytes: 32 << 20, // per kind
  profileTTL: 10 * 60 * 1000, // ms a stored profile is used without asking the network
  avatarTTL: 30 * 24 * 3600 * 1000, // avatar bytes never change under a version; this only bounds storage
  serviceWorker: true, // register /cameo-sw.js
  events: true, // one EventSource on /v1/events
};

// ---- a bounded LRU (Map keeps insertion order: the first key is the oldest) ----
class LRU {
  constructor(max, onEvict) {
    this.max = max;
    this.map = new Map();
    this.onEvict = onEvict || (() => {});
  }
  get(k) {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k, v) {
    if (this.map.has(k)) this.map.delete(k);
    this.map.set(k, v);
    while (this.map.size > this.max) {
      const [ok, ov] = this.map.entries().next().value;
      this.map.delete(ok);
      this.onEvict(ov, ok);
    }
  }
  delete(k) {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.onEvict(v, k);
    }
  }
  clear() {
    for (const [k, v] of this.map) this.onEvict(v, k);
    this.map.clear();
  }
}

// ---- IndexedDB, every call guarded: any failure answers "not there" ----
class Store {
  constructor(opts) {
    this.opts = opts;
    this.db = null;
    this.opening = null;
    this.state = 'unused'; // then opening, available or unavailable
  }
  // Opened on first use, so a page that never needs it never waits for it.
  get ready() {
    if (!this.opening) {
      this.state = 'opening';
      this.opening = this.open().catch(() => null);
      this.opening.then((db) => (this.state = db ? 'available' : 'unavailable'));
    }
    return this.opening;
  }
  open() {
    if (!this.opts.idb) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      let req;
      try {
        req = globalThis.indexedDB.open(this.opts.idbName, 1);
      } catch (e) {
        reject(e);
        return;
      }
      req.onupgradeneeded = () => {
        const db = req.result;
        for (const kind of ['profiles', 'avatars']) {
          const s = db.createObjectStore(kind, { keyPath: 'key' });
          s.createIndex('at', 'at');
        }
      };
      req.onsuccess = () => {
        this.db = req.result;
        this.db.onversionchange = () => this.db.close();
        resolve(this.db);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('blocked'));
    });
  }
  async tx(kind, mode, fn) {
    const db = await this.ready;
    if (!db) return undefined;
    return new Promise((resolve) => {
      let out;
      try {
        const t = db.transaction(kind, mode);
        out = fn(t.objectStore(kind));
        t.oncomplete = () => resolve(out && 'result' in out ? out.result : out);
        t.onerror = t.onabort = () => resolve(undefined);
      } catch (e) {
        resolve(undefined);
      }
    });
  }
  // Records under keys[], fresh within ttl (or any age when stale is set).
  async getMany(kind, keys, ttl, stale) {
    const reqs = [];
    await this.tx(kind, 'readonly', (s) => {
      for (const k of keys) reqs.push(s.get(k));
    });
    const now = Date.now();
    const out = new Map();
    reqs.forEach((r, i) => {
      const rec = r && r.readyState === 'done' ? r.result : undefined;
      if (rec && (stale || now - rec.at < ttl)) out.set(keys[i], rec);
    });
    return out;
  }
  async putMany(kind, recs) {
    if (!recs.length) return;
    await this.tx(kind, 'readwrite', (s) => {
      for (const r of recs) s.put(r);
    });
    await this.trim(kind);
  }
  async delete(kind, keys) {
    await this.tx(kind, 'readwrite', (s) => {
      for (const k of keys) s.delete(k);
    });
  }
  async deletePrefix(kind, prefix) {
    await this.tx(kind, 'readwrite', (s) => s.delete(IDBKeyRange.bound(prefix, prefix + '\uffff')));
  }
  async clear() {
    for (const kind of ['profiles', 'avatars']) await this.tx(kind, 'readwrite', (s) => s.clear());
  }
  // Oldest first until within idbMaxEntries and idbMaxBytes.
  async trim(kind) {
    const { idbMaxEntries, idbMaxBytes } = this.opts;
    await this.tx(kind, 'readwrite', (s) => {
      const all = [];
      const cur = s.index('at').openCursor();
      cur.onsuccess = () => {
        const c = cur.result;
        if (c) {
          all.push([c.primaryKey, c.value.bytes || 0]);
          c.continue();
          return;
        }
        let n = all.length;
        let bytes = all.reduce((a, [, b]) => a + b, 0);
        for (const [k, b] of all) {
          if (n <= idbMaxEntries && bytes <= idbMaxBytes) break;
          s.delete(k);
          n--;
          bytes -= b;
        }
      };
    });
  }
}

// ---- placeholders drawn here, so a missing picture never needs a request ----
function initialsOf(profile, id) {
  const src = (profile && typeof profile.name === 'string' && profile.name) || id || '';
  const words = src.split(/[^A-Za-z0-9]+/).filter(Boolean);
  if (!words.length) return '?';
  const a = words[0][0];
  const b = words.length > 1 ? words[words.length - 1][0] : '';
  return (a + b).toUpperCase();
}

// The same hue as the server's placeholder (cameo_initials_svg in src/core/core_media.c).
function hueOf(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % 360;
}

export function initialsSVG(profile, id) {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">' +
    `<rect width="128" height="128" fill="hsl(${hueOf(id)},55%,45%)"/>` +
    '<text x="64" y="64" dy=".35em" text-anchor="middle" fill="#fff" ' +
    `font-family="Helvetica,Arial,sans-serif" font-size="52">${initialsOf(profile, id)}</text></svg>`;
  return 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
}

export const SILHOUETTE =
  'data:image/svg+xml;charset=utf-8,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">' +
      '<rect width="128" height="128" fill="#c8ccd2"/><circle cx="64" cy="50" r="24" fill="#eef0f3"/>' +
      '<path d="M20 128c4-28 22-40 44-40s40 12 44 40z" fill="#eef0f3"/></svg>',
  );

/**
 * Creates a client. options: see DEFAULTS above (base: where cameo is, ''
 * for the page's own origin).
 */
export function createCameo(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const base = String(opts.base || '').replace(/\/$/, '');
  const hits = { profile: zero(), avatar: zero() };
  const last = { profile: null, avatar: null };
  const saved = { bytes: 0, ms: 0 };
  const counts = { batches: 0, listings: 0, avatarFetches: 0, events: 0, reconnects: 0 };
  const listeners = new Map(); // event type -> Set of functions
  const objectURLs = new Set();
  let netMsPerRequest = 50; // moving average of a network round trip, for "time saved"

  function zero() {
    return Object.fromEntries(LAYERS.map((l) => [l, 0]));
  }
  function hit(kind, layer, bytes) {
    hits[kind][layer]++;
    last[kind] = layer;
    if (layer !== 'network') {
      saved.bytes += bytes || 0;
      saved.ms += netMsPerRequest;
    }
  }
  function timeNetwork(ms) {
    netMsPerRequest = netMsPerRequest * 0.8 + ms * 0.2;
  }

  const profiles = new LRU(opts.memoryEntries); // id -> profile object (null: no such user)
  const avatars = new LRU(opts.memoryEntries, (v) => release(v.url)); // id/version -> {url, bytes}, for avatar()
  const shown = new LRU(opts.memoryEntries); // versioned URL an <img> of this page decoded -> bytes
  const store = new Store(opts);
  const pending = new Map(); // id -> {promise, resolve} not yet sent
  const inflight = new Map(); // id -> promise of a batch already sent
  let flushQueued = false;

  function release(url) {
    // Revoke only when no picture on the page still shows it.
    if (!url || !url.startsWith('blob:')) return;
    if (typeof document !== 'undefined' && document.querySelector(`img[src="${CSS.escape(url)}"]`)) return;
    URL.revokeObjectURL(url);
    objectURLs.delete(url);
  }

  function emit(type, detail) {
    for (const fn of listeners.get(type) || []) {
      try {
        fn(detail);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  // ---- profiles ----

  function remember(list, layer) {
    const recs = [];
    for (const p of list) {
      if (!p || typeof p.id !== 'string') continue;
      profiles.set(p.id, p);
      if (layer !== 'indexeddb') recs.push({ key: p.id, at: Date.now(), bytes: JSON.stringify(p).length, p });
    }
    if (recs.length) store.putMany('profiles', recs).catch(() => {});
  }

  async function fetchJSON(path, init) {
    const t0 = performance.now();
    const res = await fetch(base + path, init);
    if (!res.ok) {
      const err = new Error(`${init && init.method ? init.method : 'GET'} ${path}: HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    const layer = res.headers.get('x-cameo-sw') ? 'serviceworker' : 'network';
    if (layer === 'network') timeNetwork(performance.now() - t0);
    const text = await res.text();
    return { doc: JSON.parse(text), layer, bytes: text.length };
  }

  async function flush() {
    flushQueued = false;
    const batch = new Map(pending);
    pending.clear();
    const ids = [...batch.keys()];
    // IndexedDB first, for all of them in one transaction.
    let stored = new Map();
    try {
      stored = await store.getMany('profiles', ids, opts.profileTTL, false);
    } catch (e) {
      stored = new Map();
    }
    const rest = [];
    for (const id of ids) {
      const rec = stored.get(id);
      if (rec) {
        profiles.set(id, rec.p);
        hit('profile', 'indexeddb', JSON.stringify(rec.p).length);
        batch.get(id).resolve(rec.p);
      } else {
        rest.push(id);
      }
    }
    for (let i = 0; i < rest.length; i += BATCH_MAX) {
      const chunk = rest.slice(i, i + BATCH_MAX);
      counts.batches++;
      try {
        const { doc, layer, bytes } = await fetchJSON('/v1/users:batch', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ ids: chunk }),
        });
        remember(Object.values(doc.users || {}), layer);
        for (const id of chunk) {
          const p = (doc.users || {})[id] || null;
          if (!p) profiles.set(id, null);
          hit('profile', layer, layer === 'network' ? 0 : bytes / chunk.length);
          batch.get(id).resolve(p);
        }
      } catch (e) {
        // Offline or cameo away: a stored profile of any age beats none.
        const old = await store.getMany('profiles', chunk, 0, true).catch(() => new Map());
        for (const id of chunk) {
          const rec = old.get(id);
          if (rec) hit('profile', 'indexeddb', 0);
          batch.get(id).resolve(rec ? rec.p : null);
        }
      }
    }
  }

  // The profile of id from memory, counted as a memory hit (the caller
  // checked profiles.map.has(id)).
  function memoryProfile(id) {
    const p = profiles.get(id);
    hit('profile', 'memory', p ? JSON.stringify(p).length : 0);
    return p;
  }

  /** The profile of user id (an object as GET /v1/users/{id} returns it), or null. */
  function profile(id) {
    id = String(id);
    if (profiles.map.has(id)) return Promise.resolve(memoryProfile(id));
    if (inflight.has(id)) return inflight.get(id);
    if (pending.has(id)) return pending.get(id).promise;
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    pending.set(id, { promise, resolve });
    inflight.set(id, promise);
    promise.then(() => inflight.delete(id));
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(() => flush().catch(() => {}));
    }
    return promise;
  }

  /** Profiles of ids, in the same order (null for unknown users): one batch for all misses. */
  function profiles_(ids) {
    return Promise.all([...ids].map(profile));
  }

  /** A page of users in id order: {users: [profile...], next: id|null}. Fills the caches. */
  async function listUsers({ limit = 50, after = null } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after) q.set('after', after);
    counts.listings++;
    const { doc, layer } = await fetchJSON('/v1/users?' + q);
    remember(doc.users || [], layer);
    return doc;
  }

  // ---- avatars ----

  /** The avatar's URL to put in an <img src>: the versioned, immutable one
   * when the profile is known in memory, else the redirect (with initials
   * as the default). size is a display hint only: cameo serves the picture as
   * uploaded. */
  function avatarURL(id, { size } = {}) {
    void size;
    const p = profiles.map.get(String(id));
    if (p && p.avatar && p.avatar.url) return base + p.avatar.url;
    return `${base}/v1/users/${encodeURIComponent(id)}/avatar?default=initials`;
  }

  /** A URL that shows user id's picture now: an object URL of the bytes
   * (from memory, IndexedDB, the service worker or the network), the initials
   * when the user has no picture, or a neutral silhouette for an unknown user
   * or when nothing can be fetched. Never rejects. */
  async function avatar(id) {
    id = String(id);
    const p = await profile(id);
    if (!p) return SILHOUETTE;
    if (!p.avatar || !p.avatar.version) return initialsSVG(p, id);
    const key = `${id}/${p.avatar.version}`;
    const mem = avatars.get(key);
    if (mem) {
      hit('avatar', 'memory', mem.bytes);
      return mem.url;
    }
    let blob = null;
    let layer = 'indexeddb';
    const rec = (await store.getMany('avatars', [key], opts.avatarTTL, false).catch(() => new Map())).get(key);
    if (rec && rec.blob instanceof Blob) {
      blob = rec.blob;
    } else {
      try {
        counts.avatarFetches++;
        const t0 = performance.now();
        const res = await fetch(base + p.avatar.url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        layer = res.headers.get('x-cameo-sw') ? 'serviceworker' : 'network';
        if (res.headers.get('x-cameo-sw') === 'fallback') return initialsSVG(p, id);
        blob = await res.blob();
        if (layer === 'network') timeNetwork(performance.now() - t0);
        store.putMany('avatars', [{ key, at: Date.now(), bytes: blob.size, blob }]).catch(() => {});
      } catch (e) {
        return initialsSVG(p, id);
      }
    }
    const url = URL.createObjectURL(blob);
    objectURLs.add(url);
    avatars.set(key, { url, bytes: blob.size });
    hit('avatar', layer, blob.size);
    return url;
  }

  // The URL an <img> of user id shows, given the profile p (null: unknown).
  function pictureURL(p, id) {
    if (!p) return SILHOUETTE;
    if (!p.avatar || !p.avatar.version || !p.avatar.url) return initialsSVG(p, id);
    return new URL(base + p.avatar.url, location.href).href;
  }

  // The layer that served the bytes of url to an <img>, from its Resource
  // Timing entry: the service worker marks what it answers from its caches
  // (Server-Timing: cameo-sw); a body with nothing transferred came from the
  // HTTP cache. No entry (the timeline buffer is full) or no body size
  // (another origin without Timing-Allow-Origin) counts as network: the
  // layer that claims nothing saved. Returns [layer, bytes], or null for the
  // service worker's offline placeholder (not a hit of the picture).
  function servedBy(url) {
    const entries = typeof performance !== 'undefined' ? performance.getEntriesByName(url, 'resource') : [];
    const e = entries[entries.length - 1];
    if (!e) return ['network', 0];
    const sw = (e.serverTiming || []).find((t) => t.name === 'cameo-sw');
    if (sw) return sw.description === 'fallback' ? null : ['serviceworker', e.decodedBodySize];
    if (e.decodedBodySize > 0 && e.transferSize === 0) return ['httpcache', e.decodedBodySize];
    timeNetwork(e.duration);
    return ['network', e.decodedBodySize];
  }

  /** Shows user id's picture in img and keeps it current: the element gets
   * data-cameo-user, so live updates repaint it. The src is set at once when
   * the profile is in memory (else after one batched profile read); resolves
   * when the picture is decoded and ready to paint. */
  async function paint(img, id) {
    if (id !== undefined) img.dataset.cameoUser = String(id);
    const uid = img.dataset.cameoUser;
    const p = profiles.map.has(uid) ? memoryProfile(uid) : await profile(uid);
    if (img.dataset.cameoUser !== uid) return; // reused for another user meanwhile
    const url = pictureURL(p, uid);
    const picture = url.startsWith('http');
    if (img.src !== url) {
      img.decoding = 'async';
      img.src = url;
    }
    try {
      await img.decode();
    } catch (e) {
      // Replaced meanwhile (a live update), or a picture that cannot be
      // decoded: then the initials instead.
      if (img.src === url && picture) img.src = initialsSVG(p, uid);
      return;
    }
    if (!picture) return; // a placeholder drawn here, no layer to count
    const known = shown.get(url);
    const got = known !== undefined ? ['memory', known] : servedBy(url);
    if (!got) return;
    shown.set(url, got[1]);
    hit('avatar', got[0], got[1]);
  }

  /** Paints every <img data-cameo-user> under root. */
  function paintAll(root = document, id = null) {
    const sel = id === null ? 'img[data-cameo-user]' : `img[data-cameo-user="${CSS.escape(id)}"]`;
    return Promise.all([...root.querySelectorAll(sel)].map((img) => paint(img)));
  }

  // ---- live updates ----

  let source = null;
  let lastEventId = null;
  let retryMs = 1000;
  let stopped = false;

  async function forget(id) {
    profiles.delete(id);
    for (const k of [...avatars.map.keys()]) if (k.startsWith(id + '/')) avatars.delete(k);
    await store.delete('profiles', [id]).catch(() => {});
  }

  async function onChange(type, data) {
    counts.events++;
    const id = data.user;
    if (typeof id !== 'string') return;
    await forget(id);
    const p = await profile(id);
    if (typeof document !== 'undefined') await paintAll(document, id);
    emit(type, { ...data, profile: p });
    emit('change', { ...data, profile: p });
  }

  async function onReset(data) {
    counts.events++;
    const shown = new Set(profiles.map.keys());
    profiles.clear();
    await store.tx('profiles', 'readwrite', (s) => s.clear()).catch(() => {});
    await profiles_(shown);
    if (typeof document !== 'undefined') await paintAll(document);
    emit('reset', data);
  }

  function connect() {
    if (stopped || typeof EventSource === 'undefined') return;
    // A new EventSource cannot send Last-Event-ID itself: the query does.
    const url = base + '/v1/events' + (lastEventId ? '?last_event_id=' + encodeURIComponent(lastEventId) : '');
    const es = new EventSource(url);
    source = es;
    es.onopen = () => {
      retryMs = 1000;
      emit('connected', {});
    };
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (ev) => {
        if (ev.lastEventId) lastEventId = ev.lastEventId;
        let data = {};
        try {
          data = JSON.parse(ev.data);
        } catch (e) {
          return;
        }
        onChange(type, data).catch(() => {});
      });
    }
    es.addEventListener('reset', (ev) => {
      if (ev.lastEventId) lastEventId = ev.lastEventId; // a reset names the newest event: resume after it
      let data = {};
      try {
        data = JSON.parse(ev.data);
      } catch (e) {
        /* keep {} */
      }
      onReset(data).catch(() => {});
    });
    es.onerror = () => {
      // The browser reconnects by itself (with Last-Event-ID) unless the
      // stream was refused (e.g. 503): then we do, with backoff.
      if (es.readyState === EventSource.CLOSED && !stopped) {
        counts.reconnects++;
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
  }

  // ---- service worker ----

  let swReady = Promise.resolve(null);
  if (opts.serviceWorker && typeof navigator !== 'undefined' && 'serviceWorker' in navigator) {
    const url = typeof opts.serviceWorker === 'string' ? opts.serviceWorker : base + '/cameo-sw.js';
    swReady = navigator.serviceWorker
      .register(url, { scope: (base || '') + '/' })
      .then(() => navigator.serviceWorker.ready)
      .catch(() => null);
  }

  function swAsk(msg) {
    return swReady.then((reg) => {
      const sw = (navigator.serviceWorker && navigator.serviceWorker.controller) || (reg && reg.active);
      if (!sw) return null;
      return new Promise((resolve) => {
        const ch = new MessageChannel();
        const timer = setTimeout(() => resolve(null), 2000);
        ch.port1.onmessage = (ev) => {
          clearTimeout(timer);
          resolve(ev.data);
        };
        sw.postMessage(msg, [ch.port2]);
      });
    });
  }

  if (opts.events) connect();

  return {
    avatarURL,
    avatar,
    paint,
    paintAll,
    profile,
    profiles: profiles_,
    listUsers,
    /** Warms the caches for ids (profiles, then avatar bytes). */
    async prefetch(ids) {
      await profiles_(ids);
      await Promise.all([...ids].map((id) => avatar(id)));
    },
    /** Hits per layer, and what the layers saved, like the server's /v1/stats. */
    stats() {
      const total = (k) => LAYERS.reduce((a, l) => a + hits[k][l], 0);
      return {
        profiles: { ...hits.profile, total: total('profile') },
        avatars: { ...hits.avatar, total: total('avatar') },
        last,
        bytes_saved: Math.round(saved.bytes),
        time_saved_ms: Math.round(saved.ms),
        requests: { ...counts },
        memory: { profiles: profiles.map.size, avatars: avatars.map.size + shown.map.size },
        indexeddb: store.state,
        service_worker:
          typeof navigator !== 'undefined' && navigator.serviceWorker && navigator.serviceWorker.controller
            ? 'controlling'
            : 'none',
        events: source ? ['connecting', 'open', 'closed'][source.readyState] : 'off',
      };
    },
    /** The service worker's own figures (null without one). */
    serviceWorkerStats: () => swAsk({ type: 'stats' }),
    /** Forgets everything (logout): memory, IndexedDB and the service worker's caches. */
    async clear() {
      profiles.clear();
      avatars.clear();
      shown.clear();
      for (const u of objectURLs) URL.revokeObjectURL(u);
      objectURLs.clear();
      await store.clear().catch(() => {});
      await swAsk({ type: 'clear' });
    },
    /** Listens to 'avatar.updated', 'avatar.deleted', 'profile.updated',
     * 'profile.deleted', 'change' (any of those), 'reset', 'connected'.
     * Returns a function that stops listening. */
    on(type, fn) {
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type).add(fn);
      return () => listeners.get(type).delete(fn);
    },
    /** Closes the event stream. */
    close() {
      stopped = true;
      if (source) source.close();
    },
    serviceWorkerReady: swReady,
  };
}
