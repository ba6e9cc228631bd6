/**
 * The one protobuf body the fake API server reads: a TokenRequest, which `kubectl create token` (client-go's typed
 * client) sends as `application/vnd.kubernetes.protobuf` — the `k8s\0` magic, then a `runtime.Unknown` whose `raw`
 * field holds the `authentication.k8s.io/v1` TokenRequest. Only the spec fields the fake honours are decoded
 * (audiences, expirationSeconds, boundObjectRef kind and name); the answer is JSON, which the client accepts too.
 *
 * @since 0.1.0
 */

/** The TokenRequest spec, as the JSON body would carry it. */
export interface TokenRequestFields {
  readonly spec: {
    readonly audiences?: ReadonlyArray<string>
    readonly expirationSeconds?: number
    readonly boundObjectRef?: { readonly kind?: string; readonly name?: string }
  }
}

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00])

interface Field {
  readonly number: number
  readonly varint?: bigint
  readonly bytes?: Buffer
}

/** The top-level fields of one protobuf message; undefined when it is not well-formed. */
const fieldsOf = (message: Buffer): ReadonlyArray<Field> | undefined => {
  const fields: Array<Field> = []
  let offset = 0
  const varint = (): bigint | undefined => {
    let value = 0n
    for (let shift = 0n; offset < message.length && shift < 70n; shift += 7n) {
      const byte = message[offset++] ?? 0
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
    }
    return undefined
  }
  while (offset < message.length) {
    const key = varint()
    if (key === undefined) return undefined
    const number = Number(key >> 3n)
    switch (Number(key & 7n)) {
      case 0: {
        const value = varint()
        if (value === undefined) return undefined
        fields.push({ number, varint: value })
        break
      }
      case 1:
        offset += 8
        break
      case 2: {
        const length = varint()
        if (length === undefined || offset + Number(length) > message.length) return undefined
        fields.push({ number, bytes: message.subarray(offset, offset + Number(length)) })
        offset += Number(length)
        break
      }
      case 5:
        offset += 4
        break
      default:
        return undefined
    }
  }
  return offset === message.length ? fields : undefined
}

const text = (fields: ReadonlyArray<Field>, number: number): string | undefined =>
  fields.find((field) => field.number === number)?.bytes?.toString("utf8")

const message = (fields: ReadonlyArray<Field>, number: number): ReadonlyArray<Field> => {
  const bytes = fields.find((field) => field.number === number)?.bytes
  return bytes === undefined ? [] : (fieldsOf(bytes) ?? [])
}

/** The TokenRequest in a Kubernetes protobuf body, or undefined when the body is not one. */
export const decodeTokenRequestProtobuf = (body: Buffer): TokenRequestFields | undefined => {
  if (!body.subarray(0, 4).equals(magic)) return undefined
  const unknown = fieldsOf(body.subarray(4))
  if (unknown === undefined) return undefined
  const typeMeta = message(unknown, 1)
  if (text(typeMeta, 2) !== "TokenRequest") return undefined
  const raw = unknown.find((field) => field.number === 2)?.bytes
  const request = raw === undefined ? undefined : fieldsOf(raw)
  if (request === undefined) return undefined
  const spec = message(request, 2)
  const audiences = spec.filter((field) => field.number === 1 && field.bytes !== undefined).map((f) => String(f.bytes))
  const expiration = spec.find((field) => field.number === 4)?.varint
  const bound = message(spec, 3)
  const kind = text(bound, 1)
  const name = text(bound, 3)
  return {
    spec: {
      ...(audiences.length > 0 ? { audiences } : {}),
      ...(expiration === undefined ? {} : { expirationSeconds: Number(expiration) }),
      ...(kind === undefined && name === undefined
        ? {}
        : { boundObjectRef: { ...(kind === undefined ? {} : { kind }), ...(name === undefined ? {} : { name }) } })
    }
  }
}
