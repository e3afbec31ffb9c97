// sw.js - the example's service worker: the app shell, versioned.  Bump
// VERSION with every release; register with {type: 'module'}.
import { installShell } from '../sdk/sw.mjs';

const VERSION = 'example-1';
installShell(self, { version: VERSION, shell: [
  './', './index.html', './app.mjs',
  '../sdk/tenfour.mjs', '../sdk/core.mjs', '../sdk/keyring.mjs', '../sdk/store.mjs',
  '../sdk/backend.mjs', '../sdk/replica.mjs', '../sdk/sync.mjs', '../sdk/sw.mjs',
  '../sdk/util.mjs', '../../build/wasm/tenfour.wasm', '../../schemas/cad.json',
] });
