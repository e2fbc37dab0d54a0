// What the Express middleware adds to a request (scripts/bench-sdk.sh):
// the same handler served with and without it, requested one after
// another over loopback (BENCH_REQUESTS each, interleaved), events recorded
// to a live server. Prints p50 and p99 latency of both as a JSON line.
import express from 'express';
import { Client } from '../src/index.js';
import { auditstore } from '../src/express.js';

const requests = Number(process.env.BENCH_REQUESTS ?? 5000);
const client = new Client({ baseUrl: process.env.AUDITSTORE_URL, apiKey: process.env.AUDITSTORE_KEY, ledger: process.env.AUDITSTORE_LEDGER });

function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const plain = express();
plain.post('/invoices/:id', (req, res) => res.send('updated'));
const audited = express();
audited.use(auditstore(client, { actor: () => ({ type: 'user', id: 'u_42' }) }));
audited.post('/invoices/:id', (req, res) => {
  req.audit.set('invoice.updated', 'invoice', req.params.id);
  res.send('updated');
});
const servers = [await listen(plain), await listen(audited)];
const times = [[], []];
for (let round = 0; round < requests; round++) {
  for (const [i, server] of servers.entries()) {
    const started = performance.now();
    await (await fetch(`http://127.0.0.1:${server.address().port}/invoices/inv_${round}`, { method: 'POST' })).text();
    times[i].push((performance.now() - started) * 1000);
  }
}
const report = await client.close(120_000);
for (const t of times) t.sort((a, b) => a - b);
const p = (t, q) => Math.round(t[Math.round((t.length - 1) * q)]);
console.log(JSON.stringify({
  middleware: 'express', requests, events_delivered: report.delivered,
  without_p50_us: p(times[0], 0.5), with_p50_us: p(times[1], 0.5), without_p99_us: p(times[0], 0.99), with_p99_us: p(times[1], 0.99),
}));
for (const s of servers) s.close();
