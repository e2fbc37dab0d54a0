// The file store on its own, with no server: every store of one path in a
// process shares one turn to save, so saves for many ledgers made at once,
// through many stores and spellings of the path, all land.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FileStore } from '../src/index.js';

test('saves made at once through many stores of one file all land', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'filestore-'));
  const file = join(dir, 'checkpoints.json');
  // Half of the stores name the file another way: relative to the working
  // directory, through a `.` segment.
  const spellings = [file, relative(process.cwd(), file), join(dir, '.', 'checkpoints.json')];
  const stores = Array.from({ length: 24 }, (_, i) => new FileStore(spellings[i % spellings.length]));
  await Promise.all(stores.map((store, i) => store.save(`ledger-${i}`, { tree_size: i + 1, root: '', note: '' })));
  const all = new FileStore(file);
  for (let i = 0; i < stores.length; i += 1) assert.equal((await all.load(`ledger-${i}`))?.tree_size, i + 1, `ledger-${i}`);
  // One store's saves keep their order: the last one made is the one kept.
  const one = new FileStore(file);
  await Promise.all([3, 1, 2].map((size) => one.save('ordered', { tree_size: size, root: '', note: '' })));
  assert.equal((await all.load('ordered')).tree_size, 2);
  assert.deepEqual(readdirSync(dir), ['checkpoints.json'], 'no temporary file left');
});
