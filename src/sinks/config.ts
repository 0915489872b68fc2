import { z } from 'zod'

/**
 * The `sinks` block of the config: backup targets (S3-compatible object
 * storage or a mounted path) and the bounds on when a sink copy counts.
 * Secrets are never inline: S3 credentials name environment variables or a
 * file, so they never appear in the config, its errors or the logs.
 */

const sinkName = /^[a-z][a-z0-9_-]{0,31}$/

const s3CredentialsSchema = z.union([
  z.strictObject({
    /** Environment variable holding the access key ID. */
    accessKeyIdEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'),
    /** Environment variable holding the secret access key. */
    secretAccessKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'),
  }),
  z.strictObject({
    /** JSON file `{ "accessKeyId": ..., "secretAccessKey": ... }`, readable by the node only. */
    file: z.string().min(1),
  }),
])

export const s3SinkSchema = z.strictObject({
  type: z.literal('s3'),
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000; omit for AWS's default for the region. */
  endpoint: z.url().optional(),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 lower-case letters, digits, dots, dashes)'),
  /** Key prefix inside the bucket, without a trailing slash; '' for the bucket root. */
  prefix: z
    .string()
    .max(256)
    .regex(/^([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/, "expected a key prefix such as 'meshsync/cluster-a' (no leading or trailing slash)")
    .default('meshsync'),
  region: z.string().min(1).max(64).default('us-east-1'),
  /** Omitted: the SDK's default chain (environment, profile, instance role). */
  credentials: s3CredentialsSchema.optional(),
  storageClass: z.enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'REDUCED_REDUNDANCY']).optional(),
  /** Path-style URLs (MinIO, s3rver, most self-hosted servers). */
  forcePathStyle: z.boolean().default(false),
})
export type S3SinkConfig = z.output<typeof s3SinkSchema>

export const pathSinkSchema = z.strictObject({
  type: z.literal('path'),
  /** A mounted folder; it must hold the marker file `.meshsync-sink` (see `meshsync sink init`), so an unmounted mount point is never filled. */
  path: z.string().min(1),
})
export type PathSinkConfig = z.output<typeof pathSinkSchema>

export const sinkSchema = z.discriminatedUnion('type', [s3SinkSchema, pathSinkSchema])
export type SinkConfig = z.output<typeof sinkSchema>

/** Keys of the `sinks` block that are settings, not sink names. */
export const SINK_SETTINGS = ['verifyMaxAgeSeconds', 'rehashIntervalSeconds', 'intervalSeconds'] as const

export const sinksSchema = z
  .object({
    /** A sink copy counts (in /files, status and the deletion rule) only if its checksum was read back no longer ago than this. */
    verifyMaxAgeSeconds: z.number().gt(0).default(24 * 3600),
    /** Each sink copy is re-downloaded and re-hashed at least this often (a sink that lies is caught); 0 = never. */
    rehashIntervalSeconds: z.number().nonnegative().default(7 * 24 * 3600),
    /** Backup loop tick. */
    intervalSeconds: z.number().gt(0).default(30),
  })
  .catchall(sinkSchema)
  .superRefine((v, ctx) => {
    for (const k of Object.keys(v)) {
      if ((SINK_SETTINGS as readonly string[]).includes(k)) continue
      if (!sinkName.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'sink names are lower-case words of up to 32 characters' })
    }
  })
  .transform((v) => {
    const { verifyMaxAgeSeconds, rehashIntervalSeconds, intervalSeconds, ...rest } = v
    const targets: Record<string, SinkConfig> = {}
    for (const [k, s] of Object.entries(rest)) if (typeof s === 'object' && s != null) targets[k] = s as SinkConfig
    return { verifyMaxAgeSeconds, rehashIntervalSeconds, intervalSeconds, targets }
  })
export type SinksConfig = z.output<typeof sinksSchema>

/** Per-policy backup keys (merged into the policy schema). */
export const policyBackupShape = {
  /** Sinks that receive this policy's files. */
  backup: z.array(z.string().regex(sinkName, 'expected a sink name')).max(16).default([]),
  /** Sink copies wanted (of the sinks listed in backup), default 1. */
  backupCopies: z.int().min(1).max(16).default(1),
  /** Only files whose manifest mtime is at least this old are backed up. */
  backupMinAgeSeconds: z.number().nonnegative().optional(),
  /** Only files at most this many bytes are backed up. */
  backupMaxSize: z.int().positive().optional(),
}
