// server.mjs - a real tenfourd on loopback for the SDK's Node tests: the
// demo agency seeded into a temp dir, a free port, TOTP codes computed
// from the seeded secrets (RFC 6238 with WebCrypto), devices enrolled by
// the public key a Tenfour instance made.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const TENFOURD = join(ROOT, 'build/native/tenfourd');
const SCHEMA = join(ROOT, 'schemas/cad.json');

export const haveServer = existsSync(TENFOURD);

/** @returns {Promise<number>} */
function freePort() {
	return new Promise((resolve, reject) => {
		const s = createServer();
		s.listen(0, '127.0.0.1', () => {
			const a = /** @type {any} */ (s.address());
			s.close(() => resolve(a.port));
		});
		s.on('error', reject);
	});
}

/** @param {string} s base32 @returns {Uint8Array} */
function unbase32(s) {
	const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	let bits = 0;
	let v = 0;
	const out = [];
	for (const ch of s.replace(/=+$/, '')) {
		v = (v << 5) | A.indexOf(ch);
		bits += 5;
		if (bits >= 8) {
			out.push((v >>> (bits - 8)) & 255);
			bits -= 8;
		}
	}
	return new Uint8Array(out);
}

/**
 * RFC 6238 (SHA-1, 6 digits, 30 s) at step `step`.
 * @param {string} secret @param {number} step
 */
export async function totp(secret, step) {
	const key = await crypto.subtle.importKey('raw', unbase32(secret),
		{ name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
	const msg = new Uint8Array(8);
	new DataView(msg.buffer).setBigUint64(0, BigInt(step));
	const h = new Uint8Array(await crypto.subtle.sign('HMAC', key, msg));
	const o = h[19] & 15;
	const n = ((h[o] & 127) << 24 | h[o + 1] << 16 | h[o + 2] << 8 | h[o + 3]) %
		1e6;
	return String(n).padStart(6, '0');
}

/** Starts tenfourd; returns {url, creds, admin(args), stop(), code(user)}. */
export async function startServer() {
	const dir = mkdtempSync(join(tmpdir(), 'tf-web-'));
	execFileSync(TENFOURD, ['admin', '--data-dir', dir, '--schema', SCHEMA,
		'seed-demo', '--out', dir], { stdio: 'ignore' });
	const creds = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8'));
	const port = await freePort();
	const url = `http://127.0.0.1:${port}`;
	const proc = spawn(TENFOURD, ['--data-dir', dir, '--schema', SCHEMA,
		'--listen', `127.0.0.1:${port}`, '--fsync', 'off'],
	{ stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	proc.stderr.on('data', (d) => { log += d; });
	for (let i = 0; i < 100; i++) {
		try {
			const r = await fetch(`${url}/healthz`);
			if (r.ok) break;
		} catch { /* not yet */ }
		await new Promise((r) => setTimeout(r, 100));
		if (i === 99) throw new Error(`tenfourd did not start: ${log}`);
	}
	/** @type {Map<string, number>} */
	const used = new Map();
	return {
		url,
		dir,
		/** @param {string} id */
		user(id) {
			return creds.users.find((/** @type {any} */ u) => u.id === id);
		},
		/**
		 * A TOTP code not used before for this user (the server accepts
		 * one step either side, each step once).
		 * @param {string} id
		 */
		async code(id) {
			const now = Math.floor(Date.now() / 30000);
			const step = Math.max(now - 1, (used.get(id) ?? now - 2) + 1);
			if (step > now + 1) throw new Error('no TOTP step left');
			used.set(id, step);
			return totp(this.user(id).totp_secret, step);
		},
		/** @param {string[]} args */
		admin(args) {
			return execFileSync(TENFOURD, ['admin', '--data-dir', dir,
				'--schema', SCHEMA, '--agency', 'demo', ...args],
			{ encoding: 'utf8' });
		},
		async stop() {
			proc.kill('SIGTERM');
			await new Promise((r) => proc.once('exit', r));
			rmSync(dir, { recursive: true, force: true });
		},
		log: () => log,
	};
}
