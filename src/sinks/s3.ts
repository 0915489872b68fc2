import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import type { ManifestEntry } from '../../protocols/manifest/index.js'
import { MeshsyncError } from '../util/errors.js'
import type { S3SinkConfig } from './config.js'
import { BLOBS, INDEX, type ListIndexOptions, MAX_INDEX_BYTES, SHA256_HEX, type BlobHead, type BlobMeta, indexKey, indexText, parseIndex, type Sink, type SinkCallOptions, SinkError, type SinkFailure } from './index.js'

export interface S3SinkOptions {
  env?: NodeJS.ProcessEnv
  /** SDK attempts per call (its own retry with backoff for throttling and 5xx); default 3. */
  maxAttempts?: number
  /** Multipart part size (bytes, at least 5 MiB). */
  partSize?: number
}

/** Reads the sink's credentials from the environment variables or file it names; never from the config itself. */
function credentialsOf(name: string, cfg: S3SinkConfig, env: NodeJS.ProcessEnv): S3ClientConfig['credentials'] {
  const c = cfg.credentials
  if (c == null) return undefined
  if ('file' in c) {
    let text: string
    try {
      text = readFileSync(c.file, 'utf8')
    } catch (err) {
      throw new SinkError(name, 'credentials', `cannot read the credentials file ${c.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    let v: { accessKeyId?: unknown; secretAccessKey?: unknown }
    try {
      v = JSON.parse(text) as typeof v
    } catch {
      // never the parser's message: it quotes the file, and the file holds the secret
      throw new SinkError(name, 'credentials', `the credentials file ${c.file} is not valid JSON`)
    }
    if (typeof v.accessKeyId !== 'string' || typeof v.secretAccessKey !== 'string') {
      throw new SinkError(name, 'credentials', `credentials file ${c.file} needs string fields accessKeyId and secretAccessKey`)
    }
    return { accessKeyId: v.accessKeyId, secretAccessKey: v.secretAccessKey }
  }
  const accessKeyId = env[c.accessKeyIdEnv]
  const secretAccessKey = env[c.secretAccessKeyEnv]
  if (accessKeyId == null || accessKeyId === '') throw new SinkError(name, 'credentials', `environment variable ${c.accessKeyIdEnv} (sinks.${name}.credentials.accessKeyIdEnv) is not set`)
  if (secretAccessKey == null || secretAccessKey === '') throw new SinkError(name, 'credentials', `environment variable ${c.secretAccessKeyEnv} (sinks.${name}.credentials.secretAccessKeyEnv) is not set`)
  return { accessKeyId, secretAccessKey }
}

/** An S3-compatible bucket (AWS, MinIO, s3rver...) through the AWS SDK v3. */
export class S3Sink implements Sink {
  readonly type = 's3' as const
  readonly name: string
  readonly #cfg: S3SinkConfig
  readonly #client: S3Client
  readonly #partSize: number

  constructor(name: string, cfg: S3SinkConfig, opts: S3SinkOptions = {}) {
    this.name = name
    this.#cfg = cfg
    this.#partSize = Math.max(5 * 1024 * 1024, opts.partSize ?? 8 * 1024 * 1024)
    this.#client = new S3Client({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
      credentials: credentialsOf(name, cfg, opts.env ?? process.env),
      maxAttempts: opts.maxAttempts ?? 3,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    })
  }

  close(): void {
    this.#client.destroy()
  }

  #key(rel: string): string {
    return this.#cfg.prefix === '' ? rel : `${this.#cfg.prefix}/${rel}`
  }

  async probe(opts: SinkCallOptions = {}): Promise<void> {
    await this.#call('checking the bucket', () => this.#client.send(new HeadBucketCommand({ Bucket: this.#cfg.bucket }), { abortSignal: opts.signal }))
  }

  async put(meta: BlobMeta, body: Readable, opts: SinkCallOptions = {}): Promise<void> {
    if (!SHA256_HEX.test(meta.sha256)) throw new SinkError(this.name, 'other', 'not a SHA-256')
    const upload = new Upload({
      client: this.#client,
      partSize: this.#partSize,
      queueSize: 2,
      leavePartsOnError: false,
      params: {
        Bucket: this.#cfg.bucket,
        Key: this.#key(`${BLOBS}/${meta.sha256}`),
        Body: body,
        ContentType: 'application/octet-stream',
        StorageClass: this.#cfg.storageClass,
        Metadata: { sha256: meta.sha256, size: String(meta.size), kind: meta.kind, chunkroot: meta.chunkRoot },
      },
    })
    const onAbort = (): void => {
      void upload.abort()
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.#call(`uploading blob ${meta.sha256.slice(0, 12)}`, () => upload.done())
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
    }
    await this.#abortLeftovers(this.#key(`${BLOBS}/${meta.sha256}`), opts.signal)
  }

  /**
   * Once the blob is complete, the multipart uploads still open for its key
   * are left over from an uploader killed mid-upload (kill -9: no chance to
   * abort), or redundant (another holder uploading the same content): both
   * are aborted, so their parts do not sit in the bucket until a lifecycle
   * rule removes them. A server without ListMultipartUploads (s3rver) or a
   * key without the permission leaves them: best effort, never an error.
   * Returns how many were aborted.
   */
  async #abortLeftovers(key: string, signal: AbortSignal | undefined): Promise<number> {
    let aborted = 0
    try {
      const r = await this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.#cfg.bucket, Prefix: key, MaxUploads: 100 }), { abortSignal: signal })
      for (const u of r.Uploads ?? []) {
        if (u.Key !== key || u.UploadId == null) continue
        await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#cfg.bucket, Key: key, UploadId: u.UploadId }), { abortSignal: signal })
        aborted++
      }
    } catch {
      // not implemented, or not allowed: the bucket's lifecycle rule is the operator's fallback
    }
    return aborted
  }

  async head(sha256: string, opts: SinkCallOptions = {}): Promise<BlobHead | undefined> {
    try {
      const r = await this.#call(`reading blob ${sha256.slice(0, 12)}`, () =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.#cfg.bucket, Key: this.#key(`${BLOBS}/${sha256}`) }), { abortSignal: opts.signal }),
      )
      return { size: r.ContentLength ?? -1, sha256: r.Metadata?.sha256 }
    } catch (err) {
      if (err instanceof SinkError && err.reason === 'missing') return undefined
      throw err
    }
  }

  async get(sha256: string, opts: SinkCallOptions = {}): Promise<Readable> {
    const r = await this.#call(`downloading blob ${sha256.slice(0, 12)}`, () =>
      this.#client.send(new GetObjectCommand({ Bucket: this.#cfg.bucket, Key: this.#key(`${BLOBS}/${sha256}`) }), { abortSignal: opts.signal }),
    )
    if (!(r.Body instanceof Readable)) throw new SinkError(this.name, 'other', `blob ${sha256.slice(0, 12)}: the response has no body stream`)
    return r.Body
  }

  async remove(sha256: string, opts: SinkCallOptions = {}): Promise<void> {
    if (!SHA256_HEX.test(sha256)) throw new SinkError(this.name, 'other', 'not a SHA-256')
    await this.#call(`removing blob ${sha256.slice(0, 12)}`, () =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.#cfg.bucket, Key: this.#key(`${BLOBS}/${sha256}`) }), { abortSignal: opts.signal }),
    )
  }

  async putIndex(entry: ManifestEntry, opts: SinkCallOptions = {}): Promise<void> {
    await this.#call(`writing the index of ${entry.path}`, () =>
      this.#client.send(
        new PutObjectCommand({ Bucket: this.#cfg.bucket, Key: this.#key(indexKey(entry)), Body: indexText(entry), ContentType: 'application/json' }),
        { abortSignal: opts.signal },
      ),
    )
  }

  async *listIndex(opts: ListIndexOptions = {}): AsyncIterable<ManifestEntry> {
    let token: string | undefined
    do {
      const page = await this.#call('listing the index', () =>
        this.#client.send(new ListObjectsV2Command({ Bucket: this.#cfg.bucket, Prefix: this.#key(`${INDEX}/`), ContinuationToken: token }), { abortSignal: opts.signal }),
      )
      for (const o of page.Contents ?? []) {
        if (o.Key == null || !o.Key.endsWith('.json')) continue
        let text: string
        try {
          text = await this.#readIndex(o.Key, o.Size, opts.signal)
        } catch (err) {
          if (!(err instanceof SinkError) || err.reason !== 'corrupt') throw err
          opts.onRefused?.(err)
          continue
        }
        const e = parseIndex(text)
        if (e != null) yield e
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token != null)
  }

  /**
   * One index object, read with a Range of at most MAX_INDEX_BYTES + 1 bytes
   * (the listing's size is the bucket's word, and so is the body's length):
   * an object over the bound is refused, naming the sink and key.
   */
  async #readIndex(key: string, listed: number | undefined, signal: AbortSignal | undefined): Promise<string> {
    const over = (n: number | string): SinkError => new SinkError(this.name, 'corrupt', `index object ${key} is ${n} bytes, over the ${MAX_INDEX_BYTES} an index object may have; not read`)
    if ((listed ?? 0) > MAX_INDEX_BYTES) throw over(listed!)
    const r = await this.#call(`reading ${key}`, () =>
      this.#client.send(new GetObjectCommand({ Bucket: this.#cfg.bucket, Key: key, Range: `bytes=0-${MAX_INDEX_BYTES}` }), { abortSignal: signal }),
    )
    const total = /\/(\d+)$/.exec(r.ContentRange ?? '')?.[1]
    if (total != null && Number(total) > MAX_INDEX_BYTES) {
      if (r.Body instanceof Readable) r.Body.destroy()
      throw over(total)
    }
    if (!(r.Body instanceof Readable)) return ''
    const parts: Buffer[] = []
    let got = 0
    for await (const chunk of r.Body) {
      const b = chunk as Buffer
      got += b.byteLength
      if (got > MAX_INDEX_BYTES) {
        r.Body.destroy()
        throw over(`more than ${MAX_INDEX_BYTES}`)
      }
      parts.push(b)
    }
    return Buffer.concat(parts).toString('utf8')
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw this.#wrap(err, what)
    }
  }

  #wrap(err: unknown, what: string): SinkError | Error {
    if (err instanceof SinkError) return err
    // the local side failed (the file did not hash to its SHA-256): not the sink's fault
    if (err instanceof MeshsyncError) return err
    const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } }
    if (e.name === 'AbortError') return err as Error
    const status = e.$metadata?.httpStatusCode
    const name = e.name ?? ''
    const reason: SinkFailure =
      name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'AccessDenied' || status === 403
        ? 'credentials'
        : name === 'NoSuchBucket' || (status === 404 && what === 'checking the bucket')
          ? 'bucket'
          : name === 'NotFound' || name === 'NoSuchKey' || status === 404
            ? 'missing'
            : name === 'SlowDown' || name === 'Throttling' || status === 503 || status === 429
              ? 'throttled'
              : e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'ETIMEDOUT' || e.code === 'ENOTFOUND' || name === 'TimeoutError' || name === 'EHOSTUNREACH'
                ? 'unreachable'
                : 'other'
    const where = `${this.#cfg.endpoint ?? 'AWS'} bucket ${this.#cfg.bucket}`
    return new SinkError(this.name, reason, `${what} at ${where}: ${reason}${name !== '' ? ` (${name}${status != null ? ` ${status}` : ''})` : ''}: ${e.message ?? String(err)}`, { cause: err })
  }
}
