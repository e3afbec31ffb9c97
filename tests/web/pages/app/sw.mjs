// sw.mjs - the test app's service worker: the SDK's versioned app shell
// (web/sdk/sw.mjs) over this page, its module, the SDK, the core and the
// schema, so that the app opens and unlocks with no network.
import { installShell } from '/web/sdk/sw.mjs';

installShell(self, {
	version: 'tests-web-1',
	shell: [
		'/tests/web/pages/app/index.html',
		'/tests/web/pages/app/app.mjs',
		'/web/sdk/tenfour.mjs',
		'/web/sdk/core.mjs',
		'/web/sdk/backend.mjs',
		'/web/sdk/keyring.mjs',
		'/web/sdk/store.mjs',
		'/web/sdk/replica.mjs',
		'/web/sdk/sync.mjs',
		'/web/sdk/util.mjs',
		'/web/sdk/sw.mjs',
		'/build/wasm/tenfour.wasm',
		'/schemas/cad.json',
	],
});
