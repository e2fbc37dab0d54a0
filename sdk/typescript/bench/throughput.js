// The client's sustained throughput (scripts/bench-sdk.sh): one client
// records events as fast as its queue takes them, for BENCH_SECS seconds,
// with background batching, then closes; prints the delivered rate as a
// JSON line. Events of the load generator's shape (about 330 bytes, 1,000
// actors, a client id each). Environment: AUDITSTORE_URL, AUDITSTORE_KEY,
// AUDITSTORE_LEDGER, BENCH_SECS; NODE_EXTRA_CA_CERTS trusts the server.
import { Client } from '../src/index.js';

const secs = Number(process.env.BENCH_SECS ?? 20);
const client = new Client({
  baseUrl: process.env.AUDITSTORE_URL,
  apiKey: process.env.AUDITSTORE_KEY,
  ledger: process.env.AUDITSTORE_LEDGER,
  queueSize: 20_000,
  whenFull: { block: 60_000 },
});
const started = performance.now();
let recorded = 0;
while (performance.now() - started < secs * 1000) {
  const n = recorded;
  await client.recordWait({
    actor: { type: 'user', id: `user_${n % 1000}`, name: 'Benchmark User' },
    action: `invoice.action_${n % 50}`,
    resource: { type: 'invoice', id: `inv_${(n * 31) % 100_000}` },
    occurred_at: '2026-12-01T10:00:00.123Z',
    metadata: { amount: n, currency: 'EUR', note: 'a typical audit event with a little metadata', ip: '192.0.2.1' },
  });
  recorded++;
}
const report = await client.close(300_000);
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ client: 'typescript', recorded, delivered: report.delivered, failed: report.failed, seconds, events_per_second: Math.round(report.delivered / seconds) }));
