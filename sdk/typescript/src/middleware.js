// What the Express and Fastify middleware share (docs/SDK.md §8): the
// event of one handled request, recorded through `record`, never failing
// or delaying the request.

/** Per-request handle: the handler sets the event's action and resource. */
export class AuditHandle {
  set(action, resourceType, resourceId) {
    this.value = { action, resource: { type: resourceType, id: String(resourceId) } };
  }
}

export function requestEvent({ actor, handle, method, route, status, clientIp, userAgent, requestId }) {
  const metadata = { method, route, status };
  if (clientIp) metadata.client_ip = clientIp;
  if (userAgent) metadata.user_agent = userAgent;
  if (requestId) metadata.request_id = requestId;
  return {
    actor: actor ?? { type: 'anonymous', id: 'anonymous' },
    action: handle.value?.action ?? `http.${method.toLowerCase()}`,
    resource: handle.value?.resource ?? { type: 'route', id: route },
    metadata,
  };
}

export function recordQuietly(client, event) {
  try {
    client.record(event);
  } catch (error) {
    console.warn(`AuditStore: a request's event was not queued: ${error.message}`);
  }
}

export function excluded(path, prefixes) {
  return (prefixes ?? []).some((p) => path.startsWith(p));
}
