// pouchdb-server.mjs - starts PouchDB Server (bench/js/node_modules,
// its default LevelDOWN store) on 127.0.0.1 with a temp dir, as
// bench/js/pouchdb-bench.mjs does, and loads documents into a database.
// Every wait is bounded; stop() kills it and removes the dir.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
	return new Promise((resolve, reject) => {
		const s = createServer();
		s.once('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
			s.close(() => resolve(port));
		});
	});
}

/** @param {string} root the repo */
export async function startPouchServer(root) {
	const dir = await mkdtemp(join(tmpdir(), 'tf-webbench-pouch-'));
	const port = await freePort();
	const bin = join(root, 'bench/js/node_modules/pouchdb-server/bin/pouchdb-server');
	const child = spawn(process.execPath, [bin, '--host', '127.0.0.1', '--port', String(port),
		'--dir', dir, '--config', join(dir, 'config.json'), '--no-stdout-logs'],
	{ cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
	let exited = false;
	let stderr = '';
	child.on('exit', () => {
		exited = true;
	});
	child.stderr.on('data', (d) => {
		stderr = (stderr + d).slice(-4000);
	});
	const url = `http://127.0.0.1:${port}`;
	const stop = async () => {
		if (!exited) {
			child.kill('SIGTERM');
			for (let i = 0; i < 50 && !exited; i++) await sleep(100);
			if (!exited) child.kill('SIGKILL');
		}
		await rm(dir, { recursive: true, force: true });
	};
	try {
		let up = false;
		for (let i = 0; i < 300 && !up; i++) {
			if (exited) throw new Error(`pouchdb-server exited at start: ${stderr}`);
			try {
				up = (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
			} catch {
				await sleep(100);
			}
		}
		if (!up) throw new Error('pouchdb-server: no answer in 30 s');
	} catch (e) {
		await stop();
		throw e;
	}
	return {
		url,
		stop,
		child,
		/**
		 * Creates database `db` and writes `docs` with _bulk_docs, 1,000
		 * a request.
		 * @param {string} db @param {any[]} docs
		 */
		async load(db, docs) {
			let r = await fetch(`${url}/${db}`, { method: 'PUT', signal: AbortSignal.timeout(30000) });
			if (r.status !== 201) throw new Error(`PUT /${db}: ${r.status} ${await r.text()}`);
			for (let i = 0; i < docs.length; i += 1000) {
				r = await fetch(`${url}/${db}/_bulk_docs`, {
					method: 'POST', headers: { 'content-type': 'application/json' },
					body: JSON.stringify({ docs: docs.slice(i, i + 1000) }),
					signal: AbortSignal.timeout(120000),
				});
				if (r.status !== 201) throw new Error(`_bulk_docs: ${r.status} ${(await r.text()).slice(0, 300)}`);
				for (const o of await r.json()) if (!o.ok) throw new Error(`_bulk_docs: ${JSON.stringify(o)}`);
			}
			const info = await (await fetch(`${url}/${db}`)).json();
			if (info.doc_count !== docs.length)
				throw new Error(`pouchdb-server holds ${info.doc_count} docs, not ${docs.length}`);
		},
	};
}
