// app.mjs - the example page's code: every SDK call a vendor needs, in
// the order an officer meets them.  Served by serve.mjs (same origin
// proxies /v1 to tenfourd), so baseUrl stays ''.
import { Tenfour } from '../sdk/tenfour.mjs';
import { registerShell } from '../sdk/sw.mjs';

const $ = (id) => document.getElementById(id);
const show = (id) => {
  for (const s of ['enroll', 'login', 'unlock', 'work']) $(s).hidden = s !== id;
};
const fail = (e) => { $('error').textContent = `${e.code ?? ''} ${e.message}`; };

// 1. The app shell works offline (sw.js caches this page, the SDK, the wasm).
registerShell('./sw.js', { onUpdateReady: () => {
  if (confirm('A new version is ready. Reload now?')) shell.applyUpdate();
} }).then((s) => { shell = s; }).catch(() => {});
let shell = null;

// 2. Open: the core (wasm), the agency's schema, the encrypted store.
const tf = await Tenfour.open({ wasm: '../../build/wasm/tenfour.wasm',
  schema: '../../schemas/cad.json' });

// 3. Render on every state change and every data change.
tf.on('state', route);
tf.on('change', render);
tf.on('locked', ({ reason }) => { $('error').textContent = `locked (${reason})`; });
tf.on('revoked', () => { $('error').textContent = 'This device was revoked and erased.'; });
for (const ev of ['sync', 'network', 'change']) tf.on(ev, saveBadge);
route();

async function route() {
  $('error').textContent = '';
  if (tf.state === 'new') return show('enroll');
  if (tf.state === 'enrolled' || tf.state === 'wiped') {
    const b = await tf.banner().catch(() => null);
    $('banner').textContent = b ? b.banner : '(offline: the banner needs the server)';
    $('banner').dataset.rev = b?.banner_rev ?? '';
    return show('login');
  }
  if (tf.state === 'locked') return show('unlock');
  show('work');
  render();
}

$('do-enroll').onclick = async () => {
  try {
    const { publicKey } = await tf.enroll({ agency: $('agency').value, device: $('device').value });
    $('pubkey').textContent = `Ask IT to run:\ntenfourd admin --agency ${$('agency').value} ` +
      `device-enroll ${$('device').value} --label web --pubkey ${publicKey}`;
  } catch (e) { fail(e); }
};

$('do-login').onclick = async () => {
  if (!$('ack').checked) return fail({ message: 'acknowledge the banner first' });
  try {
    await tf.login({ user: $('user').value, password: $('password').value,
      totp: $('totp').value, bannerRev: Number($('banner').dataset.rev), pin: $('pin').value });
  } catch (e) { fail(e); }
};

$('do-unlock').onclick = async () => {
  try { await tf.unlock($('pin2').value); } catch (e) {
    fail(e.attemptsLeft !== undefined ? { ...e, message: `${e.message}` } : e);
  }
};

$('do-note').onclick = async () => {
  try {
    const [inc] = await tf.records.list({ entity: 'incident' });
    if (!inc) return fail({ message: 'no incident assigned' });
    await tf.mutate.append(inc.id, 'notes', { text: $('note').value });
    $('note').value = '';
  } catch (e) { fail(e); }
};
$('do-lock').onclick = () => tf.lock();
$('do-logout').onclick = () => tf.logout();
document.addEventListener('pointerdown', () => tf.touch());

async function render() {
  if (tf.state !== 'unlocked') return;
  const rows = [...await tf.records.list({ entity: 'unit' }),
    ...await tf.records.list({ entity: 'incident' })];
  $('list').replaceChildren(...rows.map((r) => {
    const li = document.createElement('li');
    li.textContent = `${r.entity} ${r.id.slice(-6)}: ${r.sync}`;
    if (r.sync !== 'synced') li.className = 'tentative';   // "awaiting sync"
    return li;
  }));
}

// 4. "Did it save?": pending count, oldest age, last sync, online.
async function saveBadge() {
  const s = await tf.status();
  const el = $('save');
  if (!s.unlocked) { el.textContent = s.state; return; }
  el.className = s.pending ? 'pending' : 'synced';
  el.textContent = s.pending
    ? `${s.pending} change(s) waiting to sync (oldest ${Math.round(s.oldestPendingMs / 1000)} s)` +
      (s.online ? '' : ' — offline, kept on this device')
    : `All saved${s.lastSync ? ` · last sync ${new Date(s.lastSync).toLocaleTimeString()}` : ''}`;
  if (s.conflicts) el.textContent += ` · ${s.conflicts} conflict(s) to reconcile`;
  if (s.superseded) el.textContent += ` · ${s.superseded} change(s) overtaken`;
}
