// browser.mjs - time from navigation to all 50 avatars painted on /demo, in
// headless Chromium: cold, warm (the same page painting the list again),
// after a reload, and offline; against the same 50 pictures as plain
// <img src="/v1/users/{id}/avatar?default=initials"> (the redirecting URL),
// cold and after a reload. Run by bench/browser.sh; prints a markdown table.
// Never asserts a time.
//
// Both pages are measured the same way, by the bench and not by the page:
// an init script waits until the page holds 50 pictures that have all
// loaded (complete, naturalWidth > 0) and decoded, and takes the time in the
// next animation frame. The plain page is served by a small HTTP server of
// its own (not page.route(): routing turns the browser's HTTP cache off,
// which would make the plain page's reload fetch everything again).
import http from 'node:http';
import { launch, startCameo, swActive } from '../tests/browser/harness.mjs';

const ROUNDS = Number(process.env.ROUNDS || 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cameo = await startCameo({ args: ['--log-level', 'warn'] });
const browser = await launch();

// Resolves window.__painted with performance.now() once the 50 pictures
// under selector have loaded and decoded, in the next animation frame.
function watchPainted(selector) {
  window.__painted = new Promise((resolve) => {
    let done = false;
    const check = () => {
      const imgs = document.querySelectorAll(selector);
      if (done || imgs.length < 50) return;
      for (const i of imgs) if (!i.getAttribute('src') || !i.complete || i.naturalWidth === 0) return;
      done = true;
      Promise.all([...imgs].map((i) => i.decode().catch(() => {}))).then(() =>
        requestAnimationFrame(() => resolve(performance.now())),
      );
    };
    addEventListener('load', check, true); // capture: load and error of <img> do not bubble
    addEventListener('error', check, true);
    new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
  });
}

async function painted(page) {
  return page.evaluate(() => window.__painted);
}

const ids = (await (await fetch(cameo.base + '/v1/users?limit=50')).json()).users.map((u) => u.id);
const baselineHTML =
  '<!doctype html><body>' +
  ids.map((id) => `<img width="72" height="72" src="${cameo.base}/v1/users/${id}/avatar?default=initials">`).join('');
// Another port of the same host: the same site, so the same HTTP cache partition.
const baseline = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'no-cache' });
  res.end(baselineHTML);
});
await new Promise((r) => baseline.listen(0, '127.0.0.1', r));
const baselineURL = `http://127.0.0.1:${baseline.address().port}/`;

const t = { cold: [], warm: [], reload: [], offline: [], bcold: [], breload: [] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    const ctx = await browser.newContext();
    await ctx.addInitScript(watchPainted, '#friends img');
    const page = await ctx.newPage();
    await page.goto(cameo.base + '/demo');
    t.cold.push(await painted(page));
    // warm: the same page paints 50 new <img> of the same users (memory layer)
    t.warm.push(
      await page.evaluate(async () => {
        const box = document.createElement('div');
        for (const li of document.querySelectorAll('#friends li')) {
          const img = document.createElement('img');
          img.dataset.cameoUser = li.dataset.id;
          box.append(img);
        }
        document.body.append(box);
        const t0 = performance.now();
        await window.cameo.paintAll(box);
        await Promise.all([...box.querySelectorAll('img')].map((i) => i.decode().catch(() => {})));
        return performance.now() - t0;
      }),
    );
    await swActive(page);
    await page.reload(); // lets the service worker keep the page and the listing
    await painted(page);
    await page.reload();
    t.reload.push(await painted(page));
    await ctx.setOffline(true);
    await page.reload();
    t.offline.push(await painted(page));
    await ctx.close();

    const bctx = await browser.newContext();
    await bctx.addInitScript(watchPainted, 'img');
    const bpage = await bctx.newPage();
    await bpage.goto(baselineURL);
    t.bcold.push(await painted(bpage));
    await bpage.reload();
    t.breload.push(await painted(bpage));
    await bctx.close();
  }
} finally {
  await browser.close();
  await cameo.stop();
  baseline.close();
}

const f = (x) => x.toFixed(1);
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
console.log(`Median of ${ROUNDS} rounds, ms from navigation start to the 50th avatar loaded, decoded and in the next frame (warm: from the call).`);
console.log('');
console.log('| case | /demo with cameo.js | plain `<img src>` of the redirect | ratio |');
console.log('| --- | ---: | ---: | ---: |');
console.log(`| cold (new browser profile) | ${f(m.cold)} | ${f(m.bcold)} | ${(m.bcold / m.cold).toFixed(2)}x |`);
console.log(`| warm (same page, 50 more pictures) | ${f(m.warm)} | n/a | |`);
console.log(`| reload | ${f(m.reload)} | ${f(m.breload)} | ${(m.breload / m.reload).toFixed(2)}x |`);
console.log(`| offline reload | ${f(m.offline)} | broken images | |`);
console.log('');
const label = { bcold: 'plain cold', breload: 'plain reload' };
console.log('Every round, ms: ' + Object.entries(t).map(([k, v]) => `${label[k] || k} ${v.map(f).join(' ')}`).join('; ') + '.');
