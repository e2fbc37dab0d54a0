import type { Client } from './index.js';
export interface MiddlewareOptions<Req> {
  /** Who the request acts for, or null (recorded as anonymous). */
  actor?: (req: Req) => { type: string; id: string } | null;
  /** Path prefixes not recorded. */
  exclude?: string[];
  clientIp?: (req: Req) => string | undefined;
}
export declare function auditstore(client: Client, options?: MiddlewareOptions<any>): (req: any, res: any, next: () => void) => void;
