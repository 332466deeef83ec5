// live.test.mjs - an avatar uploaded through the API replaces the picture on
// an open /demo within 1 s, without a reload; listeners hear it; a profile
// change updates the text; IndexedDB being unavailable breaks nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launch, openDemo, pictures, png, reloadDemo, served, startCameo, swActive } from './harness.mjs';

let cameo, browser;

before(async () => {
  cameo = await startCameo();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await cameo?.stop();
});

// The size the picture of user id decodes to on the page.
function naturalWidth(page, id) {
  return page.$eval(`#friends img[data-cameo-user="${id}"]`, (img) => (img.complete ? img.naturalWidth : 0));
}

test('an uploaded avatar replaces the picture on an open page within 1 s, without a reload', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openDemo(page, cameo);
  await page.waitForFunction(() => window.cameo.stats().events === 'open', null, { timeout: 10000 });
  await page.evaluate(() => {
    window.heard = [];
    window.cameo.on('avatar.updated', (e) => window.heard.push(e));
  });
  assert.equal(await naturalWidth(page, 'alan-turing'), 96); // the seeded picture
  const navigations = [];
  page.on('framenavigated', () => navigations.push(1));

  const put = await cameo.admin('PUT', '/v1/users/alan-turing/avatar', png([0, 128, 255], 8, 8), 'image/png');
  assert.equal(put.status, 201, put.body);
  const t0 = Date.now();
  await page.waitForFunction(
    () => {
      const img = document.querySelector('#friends img[data-cameo-user="alan-turing"]');
      return img.complete && img.naturalWidth === 8;
    },
    null,
    { timeout: 1000, polling: 10 },
  );
  const ms = Date.now() - t0;
  assert.ok(ms <= 1000, `replaced after ${ms} ms`);
  assert.equal(navigations.length, 0, 'no reload');
  const heard = await page.evaluate(() => window.heard);
  assert.equal(heard.length, 1);
  assert.equal(heard[0].user, 'alan-turing');
  assert.equal(heard[0].version, JSON.parse(put.body).version);
  assert.equal(heard[0].profile.avatar.version, JSON.parse(put.body).version);
  // The other pictures did not change.
  assert.equal(await naturalWidth(page, 'ada-lovelace'), 96);
  await context.close();
});

test('a deleted avatar falls back to the initials; a renamed user is renamed on the page', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openDemo(page, cameo);
  await page.waitForFunction(() => window.cameo.stats().events === 'open', null, { timeout: 10000 });
  assert.equal((await cameo.admin('DELETE', '/v1/users/grace-hopper/avatar')).status, 204);
  await page.waitForFunction(
    () => document.querySelector('#friends img[data-cameo-user="grace-hopper"]').src.startsWith('data:image/svg+xml'),
    null,
    { timeout: 1000, polling: 10 },
  );
  const put = await cameo.admin('PUT', '/v1/users/grace-hopper', { name: 'Amazing Grace', title: 'Rear Admiral' });
  assert.equal(put.status, 200, put.body);
  await page.waitForFunction(
    () => document.querySelector('#friends li[data-id="grace-hopper"] .name').textContent === 'Amazing Grace',
    null,
    { timeout: 1000, polling: 10 },
  );
  await context.close();
});

test('IndexedDB unavailable: the demo still works through the other layers', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    // As in a locked-down or private mode: opening any database fails.
    Object.defineProperty(window, 'indexedDB', {
      configurable: true,
      get() {
        throw new DOMException('IndexedDB is blocked', 'SecurityError');
      },
    });
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openDemo(page, cameo);
  assert.deepEqual((await pictures(page)).filter((p) => !p.ok), []);
  // The client opens IndexedDB on first use: to store the listing's profiles.
  await page.waitForFunction(() => !['unused', 'opening'].includes(window.cameo.stats().indexeddb), null, { timeout: 10000 });
  let s = await page.evaluate(() => window.cameo.stats());
  assert.equal(s.indexeddb, 'unavailable');
  assert.equal(s.avatars.indexeddb, 0);

  // Once the service worker controls the page, the pictures come from it
  // or the HTTP cache: none reaches cameo again.
  await swActive(page);
  await reloadDemo(page);
  const before = await served(cameo, 'avatar');
  await reloadDemo(page);
  assert.deepEqual((await pictures(page)).filter((p) => !p.ok), []);
  assert.equal(await served(cameo, 'avatar') - before, 0);
  s = await page.evaluate(() => window.cameo.stats());
  // 44 pictures: the test before deleted one.
  assert.ok(s.avatars.httpcache + s.avatars.serviceworker >= 40, JSON.stringify(s.avatars));
  assert.equal(s.avatars.network, 0);
  assert.deepEqual(errors, []);
  await context.close();
});
