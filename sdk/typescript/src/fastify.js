// Fastify plugin: one event per handled request (docs/SDK.md §8).
// `request.audit.set(action, resourceType, resourceId)` in a handler names
// what it did; `actor(request)` says who (`{type, id}` or null). Register
// it with `fastify-plugin` semantics: it decorates the root instance.

import { AuditHandle, excluded, extract, recordQuietly, requestEvent } from './middleware.js';

// The matched route's pattern, or null when no route matched (Fastify's
// 404 handler has none).
function routeOf(request) {
  return request.is404 ? null : (request.routeOptions?.url ?? null);
}

export function auditstorePlugin(client, { actor = () => null, exclude = [], clientIp = (request) => request.ip } = {}) {
  const plugin = async function auditstore(fastify) {
    fastify.decorateRequest('audit', null);
    fastify.addHook('onRequest', async (request) => {
      request.audit = new AuditHandle();
    });
    fastify.addHook('onResponse', async (request, reply) => {
      const path = request.url.split('?')[0];
      if (excluded(path, exclude)) return;
      recordQuietly(client, () =>
        requestEvent({
          actor: extract(actor, request),
          handle: request.audit ?? new AuditHandle(),
          method: request.method,
          route: routeOf(request),
          path,
          status: reply.statusCode,
          clientIp: extract(clientIp, request),
          userAgent: request.headers['user-agent'],
          requestId: request.headers['x-request-id'],
        }),
      );
    });
  };
  // Hooks apply to the whole app, not one encapsulated context.
  plugin[Symbol.for('skip-override')] = true;
  return plugin;
}
