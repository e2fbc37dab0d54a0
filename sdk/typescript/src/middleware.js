// What the Express and Fastify middleware share (docs/SDK.md §8): the
// event of one handled request, recorded through `recordNowait`, never
// failing or delaying the request.

/** Per-request handle: the handler sets the event's action and resource. */
export class AuditHandle {
  set(action, resourceType, resourceId) {
    this.value = { action, resource: { type: resourceType, id: String(resourceId) } };
  }
}

/** What a request no route matched is recorded as: its concrete path could
 * be longer than a resource id may be (and would make one route per typo). */
export const UNMATCHED = 'unmatched';

const clamp = (text, limit) => (typeof text === 'string' ? text.slice(0, limit) : text);

/** The event of one request. `route` is the matched route's pattern, or
 * null when no route matched (then the concrete path goes to metadata
 * only). Strings from the request are cut to what the server takes. */
export function requestEvent({ actor, handle, method, route, path, status, clientIp, userAgent, requestId }) {
  const metadata = { method, route: route ?? UNMATCHED, status };
  if (route == null) metadata.path = clamp(path, 1024);
  if (clientIp) metadata.client_ip = clamp(clientIp, 512);
  if (userAgent) metadata.user_agent = clamp(userAgent, 512);
  if (requestId) metadata.request_id = clamp(requestId, 512);
  return {
    actor: actor ?? { type: 'anonymous', id: 'anonymous' },
    action: handle.value?.action ?? `http.${method.toLowerCase()}`,
    resource: handle.value?.resource ?? { type: 'route', id: clamp(route, 256) ?? UNMATCHED },
    metadata,
  };
}

/** An application's extractor's answer, or null if it threw: its failure
 * is the application's, never the request's. */
export function extract(extractor, request) {
  if (typeof extractor !== 'function') return null;
  try {
    return extractor(request) ?? null;
  } catch (error) {
    console.warn(`AuditStore: an extractor failed: ${error?.message ?? error}`);
    return null;
  }
}

/** Records the event `build()` makes; whatever fails on the way is logged
 * and the request goes on. `recordNowait` never waits for room: what
 * overflows the queue goes to onDrop. */
export function recordQuietly(client, build) {
  try {
    const event = build();
    if (typeof client.recordNowait === 'function') client.recordNowait(event);
    else client.record(event);
  } catch (error) {
    console.warn(`AuditStore: a request's event was not queued: ${error?.message ?? error}`);
  }
}

export function excluded(path, prefixes) {
  return (prefixes ?? []).some((p) => path.startsWith(p));
}
