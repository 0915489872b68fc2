import type { Command } from 'commander'
import { ApiClient } from './api-client.js'

/** How a command finds the node's API and its key (main.ts: apiAddressFrom, apiKeyFrom). */
export interface ApiHelpers {
  apiAddressFrom(o: Record<string, unknown>): string
  apiKeyFrom(o: Record<string, unknown>): string | undefined
}

/** The options of every command that asks a running node through its HTTP API. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--api <host:port>', 'the node’s API (default: MESHSYNC_API, the config’s api.listen, or 127.0.0.1:8420)')
    .option('-c, --config <file>', 'read api.listen (and the key in its data dir) from this config file')
    .option('--api-key <key>', 'the node’s API key (default: MESHSYNC_API_KEY, the data dir’s .meshsync/api.key, or the key of the node at --api on this host)')
    .option('--json', 'print JSON for scripts')
}

/** A client for the node these options name, sending its key. */
export function apiClient(h: ApiHelpers, o: Record<string, unknown>): ApiClient {
  return new ApiClient(h.apiAddressFrom(o), h.apiKeyFrom(o))
}
