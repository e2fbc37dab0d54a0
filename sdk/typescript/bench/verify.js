// Verification throughput (scripts/bench-sdk.sh): reads the fixture the
// Rust SDK's `verify_proofs` example wrote (AUDITSTORE_VERIFY_FIXTURE),
// checks its checkpoint's signature once, then for BENCH_SECS (5) seconds
// verifies inclusion proofs as an application does: the leaf hash computed
// from the event's content, the proof against the signed root. Prints
// proofs per second as a JSON line; exits 1 if any proof does not verify.
import { readFileSync } from 'node:fs';
import { leafHash, verifyCheckpoint, verifyInclusion } from '../src/index.js';

const fixture = JSON.parse(readFileSync(process.env.AUDITSTORE_VERIFY_FIXTURE, 'utf8'));
const secs = Number(process.env.BENCH_SECS ?? 5);
const checkpoint = await verifyCheckpoint(fixture.checkpoint, fixture.verifier_key);
const started = performance.now();
let proofs = 0;
try {
  while (performance.now() - started < secs * 1000) {
    for (const item of fixture.items) {
      await verifyInclusion(item.seq, checkpoint.treeSize, await leafHash(item.event), item.proof, checkpoint.root);
      proofs++;
    }
  }
} catch (e) {
  console.error(`a proof did not verify: ${e.message}`);
  process.exit(1);
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ client: 'typescript', proofs, seconds, proofs_per_second: Math.round(proofs / seconds) }));
