// Express middleware: one event per handled request (docs/SDK.md §8).
// `req.audit.set(action, resourceType, resourceId)` in a handler names
// what it did; `actor(req)` says who (`{type, id}` or null).

import { AuditHandle, excluded, recordQuietly, requestEvent } from './middleware.js';

export function auditstore(client, { actor = () => null, exclude = [], clientIp = (req) => req.ip } = {}) {
  return function auditstoreMiddleware(req, res, next) {
    const path = req.path ?? req.url;
    if (excluded(path, exclude)) return next();
    const handle = new AuditHandle();
    req.audit = handle;
    res.on('finish', () => {
      recordQuietly(
        client,
        requestEvent({
          actor: actor(req),
          handle,
          method: req.method,
          route: req.route?.path ? `${req.baseUrl ?? ''}${req.route.path}` : path,
          status: res.statusCode,
          clientIp: clientIp(req),
          userAgent: req.get?.('user-agent'),
          requestId: req.get?.('x-request-id'),
        }),
      );
    });
    next();
  };
}
