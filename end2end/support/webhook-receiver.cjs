// A webhook receiver for the tests: it checks every delivery's signature
// with the npm `standardwebhooks` package (an implementation independent of
// AuditStore's), records what arrived, and answers as each endpoint path is
// told to (fail the first N deliveries of a message, with a status and
// Retry-After, or fail always).
//
//   node webhook-receiver.cjs          prints {"port": N} once listening
//   POST /_config/NAME {"secret": "whsec_…", "fail_first": 2, "status": 503, "retry_after": "2", "always_fail": false}
//   POST /hooks/NAME   a delivery (answered per NAME's config)
//   GET  /_received    [{"endpoint", "id", "timestamp", "signature", "verified", "error", "body", "at_ms"}]
'use strict';
const http = require('node:http');
const { Webhook } = require('standardwebhooks');

const configs = new Map();
const received = [];
const seen = new Map(); // endpoint + webhook-id -> deliveries so far

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (c) => chunks.push(c));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

const server = http.createServer(async (request, response) => {
  const body = await readBody(request);
  const url = new URL(request.url, 'http://receiver');
  if (request.method === 'POST' && url.pathname.startsWith('/_config/')) {
    configs.set(url.pathname.slice('/_config/'.length), JSON.parse(body.toString('utf8')));
    response.writeHead(204).end();
    return;
  }
  if (request.method === 'GET' && url.pathname === '/_received') {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
    return;
  }
  if (request.method !== 'POST' || !url.pathname.startsWith('/hooks/')) {
    response.writeHead(404).end();
    return;
  }
  const name = url.pathname.slice('/hooks/'.length);
  const config = configs.get(name) || {};
  const headers = {
    'webhook-id': request.headers['webhook-id'],
    'webhook-timestamp': request.headers['webhook-timestamp'],
    'webhook-signature': request.headers['webhook-signature'],
  };
  let verified = false;
  let error = null;
  try {
    if (!config.secret) throw new Error('no secret configured for ' + name);
    new Webhook(config.secret).verify(body.toString('utf8'), headers);
    verified = true;
  } catch (e) {
    error = String(e && e.message ? e.message : e);
  }
  const key = name + ' ' + headers['webhook-id'];
  const count = (seen.get(key) || 0) + 1;
  seen.set(key, count);
  received.push({
    endpoint: name,
    id: headers['webhook-id'] || null,
    timestamp: headers['webhook-timestamp'] || null,
    signature: headers['webhook-signature'] || null,
    content_type: request.headers['content-type'] || null,
    verified,
    error,
    body: body.toString('utf8'),
    at_ms: Date.now(),
  });
  const fail = config.always_fail || count <= (config.fail_first || 0);
  if (fail) {
    const extra = config.retry_after ? { 'retry-after': String(config.retry_after) } : {};
    response.writeHead(config.status || 500, extra).end('failing on purpose');
    return;
  }
  response.writeHead(verified ? 200 : 400).end(verified ? 'ok' : 'bad signature');
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
