// Fastify plugin: one event per handled request (docs/SDK.md §8).
// `request.audit.set(action, resourceType, resourceId)` in a handler names
// what it did; `actor(request)` says who (`{type, id}` or null). Register
// it with `fastify-plugin` semantics: it decorates the root instance.

import { AuditHandle, excluded, recordQuietly, requestEvent } from './middleware.js';

export function auditstorePlugin(client, { actor = () => null, exclude = [], clientIp = (request) => request.ip } = {}) {
  const plugin = async function auditstore(fastify) {
    fastify.decorateRequest('audit', null);
    fastify.addHook('onRequest', async (request) => {
      request.audit = new AuditHandle();
    });
    fastify.addHook('onResponse', async (request, reply) => {
      const path = request.url.split('?')[0];
      if (excluded(path, exclude)) return;
      recordQuietly(
        client,
        requestEvent({
          actor: actor(request),
          handle: request.audit ?? new AuditHandle(),
          method: request.method,
          route: request.routeOptions?.url ?? path,
          status: reply.statusCode,
          clientIp: clientIp(request),
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
