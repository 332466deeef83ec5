// demo.js - the /demo page: a friend list of the first 50 users and a
// profile modal, written only against the public API of cameo.js, so it is
// also an example of using it.
import { createCameo } from '@asset(cameo.js)@';

const params = new URLSearchParams(location.search);
const cameo = createCameo({ base: '', serviceWorker: params.get('sw') !== '0' });
window.cameo = cameo; // for the browser tests, the benchmark and the console

const list = document.getElementById('friends');
const status = document.getElementById('status');

function card(p) {
  const li = document.createElement('li');
  li.tabIndex = 0;
  li.dataset.id = p.id;
  const img = document.createElement('img');
  img.alt = '';
  img.width = img.height = 72;
  img.dataset.cameoUser = p.id;
  const name = document.createElement('div');
  name.className = 'name';
  name.textContent = p.name || p.id;
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = p.title || '';
  li.append(img, name, title);
  li.addEventListener('click', () => openProfile(p.id));
  li.addEventListener('keydown', (e) => e.key === 'Enter' && openProfile(p.id));
  return li;
}

async function openProfile(id) {
  const p = await cameo.profile(id);
  const modal = document.getElementById('modal');
  const img = document.getElementById('modal-img');
  document.getElementById('modal-name').textContent = (p && p.name) || id;
  document.getElementById('modal-title').textContent = (p && p.title) || '';
  document.getElementById('modal-json').textContent = JSON.stringify(p, null, 2);
  await cameo.paint(img, id); // data-cameo-user: live updates repaint the modal too
  if (!modal.open) modal.showModal();
}

function showStats() {
  const s = cameo.stats();
  for (const kind of ['profiles', 'avatars']) {
    const cells = document.querySelectorAll(`#layers tr[data-kind="${kind}"] td`);
    ['memory', 'indexeddb', 'serviceworker', 'httpcache', 'network'].forEach((l, i) => (cells[i].textContent = s[kind][l]));
  }
  document.getElementById('saved').textContent =
    `Saved ${(s.bytes_saved / 1024).toFixed(1)} KiB and about ${s.time_saved_ms} ms of network; ` +
    `IndexedDB ${s.indexeddb}, service worker ${s.service_worker}, live updates ${s.events}.`;
}

document.getElementById('clear').addEventListener('click', async () => {
  await cameo.clear();
  showStats();
  status.textContent = 'Forgotten: the next visit starts cold.';
});

cameo.on('change', (e) => {
  // The client repainted every <img data-cameo-user> already; refresh the text.
  const li = list.querySelector(`li[data-id="${CSS.escape(e.user)}"]`);
  if (li && e.profile) {
    li.querySelector('.name').textContent = e.profile.name || e.user;
    li.querySelector('.title').textContent = e.profile.title || '';
  }
  showStats();
});

async function main() {
  performance.mark('cameo:start');
  let page;
  try {
    page = await cameo.listUsers({ limit: 50 });
  } catch (e) {
    status.textContent = `Could not list the users: ${e.message}`;
    document.body.dataset.ready = 'error';
    return;
  }
  // The listing's users are whole profiles, and listUsers() kept them in
  // the client's memory: paintAll() finds them there.
  list.replaceChildren(...page.users.map(card));
  await cameo.paintAll(list);
  performance.mark('cameo:avatars-painted');
  const n = page.users.length;
  status.textContent = n ? `${n} users.` : 'No users yet: start cameo with --seed-demo.';
  showStats();
  document.body.dataset.ready = 'true';
  setInterval(showStats, 1000);
}

main();
