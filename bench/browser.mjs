// browser.mjs - time from navigation to all 50 avatars painted on /demo, in
// headless Chromium: cold, warm (the same page painting the list again),
// after a reload, and offline; against the same 50 pictures as plain
// <img src="/v1/users/{id}/avatar?default=initials"> (the redirecting URL),
// cold and after a reload. Run by bench/browser.sh; prints a markdown table.
// Never asserts a time.
import { launch, startCameo } from '../tests/browser/harness.mjs';

const ROUNDS = Number(process.env.ROUNDS || 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cameo = await startCameo({ args: ['--log-level', 'warn'] });
const browser = await launch();

async function demoPainted(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 30000 });
  return page.evaluate(() => performance.getEntriesByName('cameo:avatars-painted')[0].startTime);
}

const ids = (await (await fetch(cameo.base + '/v1/users?limit=50')).json()).users.map((u) => u.id);
const baselineHTML =
  '<!doctype html><body>' +
  ids.map((id) => `<img width="72" height="72" src="/v1/users/${id}/avatar?default=initials">`).join('') +
  '<script>let n=0;const all=document.images;' +
  'const done=()=>{if(++n===all.length){performance.mark("baseline:painted");document.body.dataset.ready="true";}};' +
  'for(const i of all){if(i.complete)done();else{i.onload=done;i.onerror=done;}}</script>';

async function baselinePainted(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 30000 });
  return page.evaluate(() => performance.getEntriesByName('baseline:painted')[0].startTime);
}

const t = { cold: [], warm: [], reload: [], offline: [], bcold: [], breload: [] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(cameo.base + '/demo');
    t.cold.push(await demoPainted(page));
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
        return performance.now() - t0;
      }),
    );
    await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 15000 });
    await page.reload(); // lets the service worker keep the page and the listing
    await demoPainted(page);
    await page.reload();
    t.reload.push(await demoPainted(page));
    await ctx.setOffline(true);
    await page.reload();
    t.offline.push(await demoPainted(page));
    await ctx.close();

    const bctx = await browser.newContext();
    const bpage = await bctx.newPage();
    await bpage.route(cameo.base + '/bench-baseline', (route) => route.fulfill({ body: baselineHTML, contentType: 'text/html' }));
    await bpage.goto(cameo.base + '/bench-baseline');
    t.bcold.push(await baselinePainted(bpage));
    await bpage.reload();
    t.breload.push(await baselinePainted(bpage));
    await bctx.close();
  }
} finally {
  await browser.close();
  await cameo.stop();
}

const f = (x) => x.toFixed(1);
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
console.log(`Median of ${ROUNDS} rounds, ms from navigation start to the 50th avatar painted (warm: from the call).`);
console.log('');
console.log('| case | /demo with cameo.js | plain `<img src>` of the redirect | ratio |');
console.log('| --- | ---: | ---: | ---: |');
console.log(`| cold (new browser profile) | ${f(m.cold)} | ${f(m.bcold)} | ${(m.bcold / m.cold).toFixed(2)}x |`);
console.log(`| warm (same page, 50 more pictures) | ${f(m.warm)} | n/a | |`);
console.log(`| reload | ${f(m.reload)} | ${f(m.breload)} | ${(m.breload / m.reload).toFixed(2)}x |`);
console.log(`| offline reload | ${f(m.offline)} | broken images | |`);
