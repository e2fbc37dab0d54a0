import type { Client } from './index.js';
import type { MiddlewareOptions } from './express.js';
export declare function auditstorePlugin(client: Client, options?: MiddlewareOptions<any>): (fastify: any) => Promise<void>;
