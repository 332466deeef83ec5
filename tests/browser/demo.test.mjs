// demo.test.mjs - /demo in headless Chromium against a real cameo: the first
// visit, a reload, offline, and the client's batching, with the layer that
// served each case from stats().
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launch, openDemo, pictures, reloadDemo, served, startCameo, swActive } from './harness.mjs';

let cameo, browser, context, page;

before(async () => {
  cameo = await startCameo();
  browser = await launch();
  context = await browser.newContext();
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  await cameo?.stop();
});

test('first visit: one listing, no more than one batch, at most 50 avatar requests, all painted', async () => {
  const before = { users: await served(cameo, 'users'), batch: await served(cameo, 'batch'), avatar: await served(cameo, 'avatar') };
  await openDemo(page, cameo);
  const pics = await pictures(page);
  assert.equal(pics.length, 50);
  assert.deepEqual(pics.filter((p) => !p.ok), [], 'every picture decodes');
  assert.equal(await served(cameo, 'users') - before.users, 1);
  assert.ok(await served(cameo, 'batch') - before.batch <= 1);
  const avatars = await served(cameo, 'avatar') - before.avatar;
  assert.ok(avatars <= 50, `${avatars} avatar requests reached cameo`);
  const s = await page.evaluate(() => window.cameo.stats());
  assert.equal(s.avatars.network, 45); // 45 pictures; 5 users keep their initials, drawn locally
  assert.equal(s.last.avatar, 'network');
});

test("reload: zero avatar requests reach cameo, the browser's caches serve the pictures", async () => {
  await swActive(page);
  const before = await served(cameo, 'avatar');
  await reloadDemo(page);
  assert.deepEqual((await pictures(page)).filter((p) => !p.ok), []);
  assert.equal(await served(cameo, 'avatar') - before, 0);
  const s = await page.evaluate(() => window.cameo.stats());
  // The versioned URLs are immutable: the HTTP cache (or, for a page the
  // worker controls and the HTTP cache misses, the worker) has every one.
  assert.equal(s.avatars.httpcache + s.avatars.serviceworker, 45, JSON.stringify(s.avatars));
  assert.equal(s.avatars.network, 0);
  assert.ok(['httpcache', 'serviceworker'].includes(s.last.avatar), s.last.avatar);
  assert.equal(s.service_worker, 'controlling');
});

test('reload with the HTTP cache off: the service worker serves every picture, and says so', async () => {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  try {
    const before = await served(cameo, 'avatar');
    await reloadDemo(page);
    assert.deepEqual((await pictures(page)).filter((p) => !p.ok), []);
    assert.equal(await served(cameo, 'avatar') - before, 0);
    const s = await page.evaluate(() => window.cameo.stats());
    assert.equal(s.avatars.serviceworker, 45, JSON.stringify(s.avatars));
    assert.equal(s.last.avatar, 'serviceworker');
  } finally {
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
    await cdp.detach();
  }
});

test('avatar(): an object URL of the bytes, kept in IndexedDB for the next client', async () => {
  const r = await page.evaluate(async () => {
    const { createCameo } = await import('/cameo.js');
    const opts = { serviceWorker: false, events: false, idbName: 'cameo-avatar-test' };
    const a = createCameo(opts);
    const first = await a.avatar('ada-lovelace');
    const b = createCameo(opts);
    const second = await b.avatar('ada-lovelace');
    return { first, second, a: a.stats().avatars, b: b.stats().avatars };
  });
  assert.ok(r.first.startsWith('blob:') && r.second.startsWith('blob:'), JSON.stringify(r));
  assert.equal(r.a.network + r.a.httpcache + r.a.serviceworker, 1);
  assert.equal(r.b.indexeddb, 1);
});

test('same-tick profile() calls become one batch request; duplicates and in-flight calls join it', async () => {
  const before = await served(cameo, 'batch');
  const r = await page.evaluate(async () => {
    const { createCameo } = await import('/cameo.js');
    const c = createCameo({ idb: false, serviceWorker: false, events: false });
    const page1 = await (await fetch('/v1/users?limit=50')).json();
    const ids = page1.users.map((u) => u.id);
    const first = ids.map((id) => c.profile(id));
    const dup = ids.map((id) => c.profile(id)); // same tick: joins
    await Promise.resolve();
    const inflight = c.profile(ids[0]); // later tick, still in flight: joins
    const all = await Promise.all([...first, ...dup, inflight]);
    const unknown = await c.profile('nobody-here');
    return { n: all.filter(Boolean).length, names: all.slice(0, 2).map((p) => p.name), unknown, stats: c.stats() };
  });
  assert.equal(r.n, 101);
  assert.equal(r.unknown, null);
  assert.equal(await served(cameo, 'batch') - before, 2); // the 50, then the unknown one
  assert.equal(r.stats.requests.batches, 2);
  assert.equal(r.stats.profiles.network, 51);
});

test('offline reload: every seen picture renders, unseen ones get a placeholder, none broken', async () => {
  // One more online reload, so the service worker holds the page and the listing.
  await reloadDemo(page);
  await context.setOffline(true);
  try {
    await reloadDemo(page);
    const pics = await pictures(page);
    assert.equal(pics.length, 50);
    assert.deepEqual(pics.filter((p) => !p.ok), []);
    const r = await page.evaluate(async () => {
      const load = (src) =>
        new Promise((resolve) => {
          const img = new Image();
          img.onload = () => resolve({ ok: img.naturalWidth > 0, src });
          img.onerror = () => resolve({ ok: false, src });
          img.src = src;
        });
      // A version never fetched, of a user whose profile is cached: initials.
      const unseen = await load('/v1/avatars/ada-lovelace/00000000000000ff');
      const text = await (await fetch('/v1/avatars/ada-lovelace/00000000000000ff')).text();
      // A user never seen at all: the silhouette, from the client and the worker.
      const stranger = await load('/v1/users/never-seen/avatar');
      const url = await window.cameo.avatar('never-seen');
      return { unseen, initials: text.includes('>AL</text>'), stranger, silhouette: url.startsWith('data:image/svg+xml'), stats: window.cameo.stats() };
    });
    assert.ok(r.unseen.ok, 'an unseen version shows a placeholder');
    assert.ok(r.initials, 'the placeholder of a known user has its initials');
    assert.ok(r.stranger.ok && r.silhouette, 'an unknown user shows the silhouette');
    assert.equal(r.stats.avatars.network, 0);
    const s = r.stats.avatars;
    assert.ok(s.httpcache + s.serviceworker + s.memory >= 45, JSON.stringify(s));
    assert.equal(r.stats.last.profile, 'serviceworker'); // the offline batch for never-seen
  } finally {
    await context.setOffline(false);
  }
});

test('clear() forgets every layer: the next visit fetches again', async () => {
  await page.evaluate(() => window.cameo.clear());
  const sw = await page.evaluate(() => window.cameo.serviceWorkerStats());
  assert.deepEqual(sw.entries, { avatars: 0, profiles: 0, pages: 0 });
  const n = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const req = indexedDB.open('cameo');
        req.onsuccess = () => {
          const c = req.result.transaction('avatars').objectStore('avatars').count();
          c.onsuccess = () => resolve(c.result);
        };
      }),
  );
  assert.equal(n, 0);
});
