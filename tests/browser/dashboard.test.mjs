// dashboard.test.mjs - /dashboard renders non-empty live charts from a real
// cameo under a little traffic, health and recommendations; the test saves
// a screenshot (into the build directory, never committed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';

import { OUT_DIR, launch, startCameo } from './harness.mjs';

let cameo, browser;

before(async () => {
  cameo = await startCameo();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await cameo?.stop();
});

test('the dashboard draws every chart with data, health and advice; screenshot saved', async () => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(cameo.base + '/dashboard?every=250');
  // Traffic while it watches: listings and batches, some misses then hits.
  for (let i = 0; i < 5; i++) {
    await fetch(cameo.base + '/v1/users?limit=50');
    await fetch(cameo.base + '/v1/users:batch', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ids: ['ada-lovelace', 'alan-turing', 'nobody'] }),
    });
  }
  await page.waitForFunction(() => window.cameoDashboard && window.cameoDashboard.points >= 4, null, { timeout: 15000 });
  const charts = await page.$$eval('.chart', (els) =>
    els.map((el) => {
      const canvas = el.querySelector('canvas');
      return { id: el.id, w: canvas ? canvas.width : 0, h: canvas ? canvas.height : 0 };
    }),
  );
  assert.equal(charts.length, 6);
  for (const c of charts) assert.ok(c.w > 100 && c.h > 100, JSON.stringify(c));
  // The requests chart has points, and some are above zero.
  const rps = await page.evaluate(() => document.querySelector('#chart-rps .u-legend') !== null);
  assert.ok(rps);
  const health = await page.$$eval('#health span', (s) => s.map((x) => x.textContent));
  assert.ok(health.includes('memory: ok') && health.includes('origin (local): ok'), health.join(', '));
  const advice = await page.$$eval('#advice-list li', (l) => l.map((x) => x.textContent));
  assert.ok(advice.length >= 1 && advice[0].length > 10, advice.join(' | '));
  const summary = await page.textContent('#summary');
  assert.match(summary, /requests/);
  const file = path.join(OUT_DIR, 'dashboard.png');
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(statSync(file).size > 10000);
  assert.deepEqual(errors, []);
});

test('a figure that is off gets a recommendation in plain words', async () => {
  // A small memory tier on a second cameo, and reads of ever new ids: it
  // evicts, and the hit rate stays low.
  const small = await startCameo({ seed: false, args: ['--mem-limit', '64KiB'] });
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(small.base + '/dashboard?every=250');
    await page.waitForFunction(() => window.cameoDashboard && window.cameoDashboard.points >= 1, null, { timeout: 15000 });
    const deadline = Date.now() + 15000;
    let advice = '';
    for (let round = 0; !/--mem-limit/.test(advice) && Date.now() < deadline; round++) {
      const ids = Array.from({ length: 1000 }, (_, i) => `r${round}-${i}`);
      await fetch(small.base + '/v1/users:batch', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ids }),
      });
      advice = (await page.$$eval('#advice-list li', (l) => l.map((x) => x.textContent))).join(' | ');
    }
    assert.match(advice, /Raise --mem-limit/);
  } finally {
    await small.stop();
  }
});
