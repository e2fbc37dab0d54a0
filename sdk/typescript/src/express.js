// Express middleware: one event per handled request (docs/SDK.md §8).
// `req.audit.set(action, resourceType, resourceId)` in a handler names
// what it did; `actor(req)` says who (`{type, id}` or null).

import { AuditHandle, excluded, extract, recordQuietly, requestEvent } from './middleware.js';

// The matched route's pattern, or null when no route matched (a 404).
function routeOf(req) {
  return req.route?.path ? `${req.baseUrl ?? ''}${req.route.path}` : null;
}

export function auditstore(client, { actor = () => null, exclude = [], clientIp = (req) => req.ip } = {}) {
  return function auditstoreMiddleware(req, res, next) {
    const path = req.path ?? req.url;
    if (excluded(path, exclude)) return next();
    const handle = new AuditHandle();
    req.audit = handle;
    // Runs outside the request's own error handling: nothing in it may
    // throw, or the process would go down with it.
    res.on('finish', () => {
      recordQuietly(client, () =>
        requestEvent({
          actor: extract(actor, req),
          handle,
          method: req.method,
          route: routeOf(req),
          path: (req.originalUrl ?? req.url ?? path).split('?')[0],
          status: res.statusCode,
          clientIp: extract(clientIp, req),
          userAgent: req.get?.('user-agent'),
          requestId: req.get?.('x-request-id'),
        }),
      );
    });
    next();
  };
}
