// tenfourd.mjs - starts build/native/tenfourd on loopback for the browser
// tests, with a fresh data dir seeded by `tenfourd admin seed-demo` (Demo
// County PD: dana, alvarez 2A12, brooks 2A14, ...), and hands out what a
// test needs: admin commands, TOTP codes, the demo credentials and device
// keys.
//
//   const td = await startTenfourd({root});
//   td.url, td.dataDir, td.creds (credentials.json), td.totpNext('alvarez')
//   await td.admin(['device-enroll', 'web-2a12', '--label', 'x', '--pubkey', pk]);
//   await td.stop();
//
// Every wait is bounded; stop() kills the daemon and removes the data dir.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** Every child process started here, for the runner's cleanup. */
export const children = new Set();
/** Data dirs not removed yet (a run stopped while one starts). */
export const dataDirs = new Set();

/**
 * Runs a command to its end (bounded); resolves {code, stdout, stderr}.
 * @param {string} cmd @param {string[]} args
 * @param {{cwd?: string, input?: string, timeoutMs?: number}} [o]
 */
export function run(cmd, args, o = {}) {
	return new Promise((resolve, reject) => {
		const p = spawn(cmd, args, { cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
		children.add(p);
		let stdout = '';
		let stderr = '';
		const timer = setTimeout(() => {
			p.kill('SIGKILL');
			reject(new Error(`${cmd} ${args.join(' ')}: no end within ${o.timeoutMs ?? 60000} ms`));
		}, o.timeoutMs ?? 60000);
		p.stdout.on('data', (d) => (stdout += d));
		p.stderr.on('data', (d) => (stderr += d));
		p.on('error', (e) => {
			clearTimeout(timer);
			children.delete(p);
			reject(e);
		});
		p.on('close', (code) => {
			clearTimeout(timer);
			children.delete(p);
			resolve({ code, stdout, stderr });
		});
		p.stdin.end(o.input ?? '');
	});
}

/** RFC 4648 base32 (no padding) to bytes. @param {string} s */
function base32(s) {
	const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	let bits = 0;
	let acc = 0;
	const out = [];
	for (const ch of s.replace(/=+$/, '').toUpperCase()) {
		const v = abc.indexOf(ch);
		if (v < 0) throw new Error('base32: bad character');
		acc = (acc << 5) | v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out.push((acc >> bits) & 0xff);
		}
	}
	return Buffer.from(out);
}

/** RFC 6238 TOTP (SHA-1, 6 digits) of a step. @param {Buffer} key @param {number} step */
export function totpCode(key, step) {
	const msg = Buffer.alloc(8);
	msg.writeBigUInt64BE(BigInt(step));
	const h = createHmac('sha1', key).update(msg).digest();
	const off = h[h.length - 1] & 0x0f;
	const n = (h.readUInt32BE(off) & 0x7fffffff) % 1000000;
	return String(n).padStart(6, '0');
}

/**
 * Starts a seeded tenfourd.
 * @param {{root: string, maxSkewMs?: number, extraArgs?: string[],
 *          log?: (line: string) => void}} opts
 */
export async function startTenfourd(opts) {
	const bin = join(opts.root, 'build/native/tenfourd');
	const schema = join(opts.root, 'schemas/cad.json');
	const dataDir = await mkdtemp(join(tmpdir(), 'tenfour-web-'));
	dataDirs.add(dataDir);
	/** @type {import('node:child_process').ChildProcess|null} */
	let proc = null;
	let stderr = '';
	const admin = async (/** @type {string[]} */ args, /** @type {string} */ input = '') => {
		const r = await run(bin, ['admin', '--data-dir', dataDir, '--schema', schema,
			'--agency', 'demo', ...args], { cwd: opts.root, input });
		if (r.code !== 0)
			throw new Error(`tenfourd admin ${args[0]}: exit ${r.code}: ${r.stderr.trim()}`);
		return r.stdout;
	};
	const stop = async () => {
		if (proc && proc.exitCode === null && proc.signalCode === null) {
			const p = proc;
			const gone = new Promise((r) => p.once('close', r));
			p.kill('SIGTERM');
			const t = setTimeout(() => p.kill('SIGKILL'), 5000);
			await Promise.race([gone, sleep(8000)]);
			clearTimeout(t);
		}
		proc = null;
		await rm(dataDir, { recursive: true, force: true });
		dataDirs.delete(dataDir);
	};
	try {
		const seed = await run(bin, ['admin', '--data-dir', dataDir, '--schema', schema,
			'seed-demo', '--out', dataDir], { cwd: opts.root, timeoutMs: 120000 });
		if (seed.code !== 0)
			throw new Error(`tenfourd admin seed-demo: exit ${seed.code}: ${seed.stderr.trim()}`);
		const creds = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8'));
		const portFile = join(dataDir, 'port');
		proc = spawn(bin, ['--data-dir', dataDir, '--schema', schema,
			'--listen', '127.0.0.1:0', '--port-file', portFile, '--fsync', 'off',
			'--log-level', 'warn', '--max-skew-ms', String(opts.maxSkewMs ?? 60000),
			...(opts.extraArgs ?? [])], { cwd: opts.root, stdio: ['ignore', 'ignore', 'pipe'] });
		children.add(proc);
		const p = proc;
		p.on('close', () => children.delete(p));
		p.stderr?.on('data', (d) => {
			stderr = (stderr + d).slice(-8000);
		});
		let port = 0;
		for (let i = 0; i < 200 && !port; i++) {
			if (p.exitCode !== null) break;
			try {
				port = Number((await readFile(portFile, 'utf8')).trim());
			} catch {
				await sleep(50);
			}
		}
		if (!port) throw new Error(`tenfourd did not start: ${stderr.trim()}`);
		const url = `http://127.0.0.1:${port}`;
		let healthy = false;
		for (let i = 0; i < 100 && !healthy; i++) {
			try {
				healthy = (await fetch(`${url}/healthz`)).ok;
			} catch {
				await sleep(50);
			}
		}
		if (!healthy) throw new Error(`tenfourd on ${url} never answered /healthz`);

		/** @type {Record<string, number>} last TOTP step used per user */
		const lastStep = {};
		/** @type {Record<string, Buffer>} */
		const totpKeys = {};
		for (const u of creds.users) totpKeys[u.id] = base32(u.totp_secret);

		return {
			url,
			dataDir,
			creds,
			admin,
			stop,
			stderr: () => stderr,
			/** @param {string} id */
			user: (id) => creds.users.find((/** @type {any} */ u) => u.id === id),
			/** @param {string} device */
			devicePem: (device) => readFile(join(dataDir, 'devices', `${device}.pem`), 'utf8'),
			/**
			 * Adds a user (password from a file in the data dir) and
			 * keeps its TOTP secret.
			 * @param {string} id @param {string} name @param {string} roles
			 * @param {string|null} unit @param {string} password
			 */
			async userAdd(id, name, roles, unit, password) {
				const out = await admin(['user-add', id, '--name', name, '--roles', roles,
					...(unit ? ['--unit', unit] : [])], password + '\n');
				const m = /TOTP secret: ([A-Z2-7]+)/.exec(out);
				if (!m) throw new Error(`user-add ${id}: no TOTP secret in its output`);
				totpKeys[id] = base32(m[1]);
				creds.users.push({ id, password, role: roles, unit, totp_secret: m[1] });
			},
			/**
			 * The next TOTP code of a user the server takes (a code is
			 * accepted once; the server's window reaches one 30 s
			 * step ahead): waits, bounded, when both are used.
			 * @param {string} id
			 */
			async totpNext(id) {
				const key = totpKeys[id];
				if (!key) throw new Error(`no TOTP secret for ${id}`);
				let now = Math.floor(Date.now() / 30000);
				let step = Math.max(now, (lastStep[id] ?? 0) + 1);
				for (let i = 0; i < 400 && step > now + 1; i++) {
					await sleep(100);
					now = Math.floor(Date.now() / 30000);
				}
				lastStep[id] = step;
				return totpCode(key, step);
			},
		};
	} catch (e) {
		await stop();
		throw e;
	}
}
