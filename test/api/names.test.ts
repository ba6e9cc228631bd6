import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { DnsLabel, DnsSubdomain } from "../../src/api/common.ts"
import { instanceImage, instanceImageOf, instanceImages } from "../../src/api/images.ts"
import {
  backupJobName,
  instanceName,
  instanceSerial,
  maxDnsLabelLength,
  recoveryJobName,
  truncatedName
} from "../../src/api/names.ts"

const isDnsLabel = Schema.is(DnsLabel)

describe("names", () => {
  it.effect.prop(
    "a Job name is a DNS label, deterministic, and unique per Backup name",
    { a: DnsSubdomain, b: DnsSubdomain },
    ({ a, b }) =>
      Effect.sync(() => {
        const name = backupJobName(a)
        assert.isTrue(name.length <= maxDnsLabelLength)
        assert.strictEqual(name, backupJobName(a))
        if (a !== b) assert.notStrictEqual(name, backupJobName(b))
        if (!a.includes(".")) assert.isTrue(isDnsLabel(name), name)
      })
  )

  it("a name that fits is kept as it is", () => {
    assert.strictEqual(truncatedName("c-1-recovery"), "c-1-recovery")
    assert.strictEqual(recoveryJobName("cluster-sample"), "cluster-sample-1-recovery")
    const long = truncatedName(`${"a".repeat(62)}-b`)
    assert.strictEqual(long.length, 63)
    assert.isFalse(long.slice(0, -9).endsWith("-"))
  })

  it.effect.prop(
    "instanceSerial inverts instanceName",
    { cluster: DnsLabel, serial: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 9999 })) },
    ({ cluster, serial }) =>
      Effect.sync(() => {
        assert.strictEqual(instanceSerial(cluster, instanceName(cluster, serial)), serial)
        assert.isUndefined(instanceSerial(cluster, `${cluster}-rw`))
        assert.isUndefined(instanceSerial(cluster, `${cluster}-01`))
      })
  )
})

describe("images", () => {
  it("every instance tag resolves to its row, with or without a digest", () => {
    for (const image of instanceImages) {
      assert.deepStrictEqual(instanceImageOf(instanceImage(image.tag)), image)
      assert.deepStrictEqual(instanceImageOf(`${instanceImage(image.tag)}@sha256:${"0".repeat(64)}`), image)
    }
    assert.isUndefined(instanceImageOf("ghcr.io/cloudnative-mysql/cloudnative-mysql-instance:5.7"))
    assert.isUndefined(instanceImageOf("mysql:8.4"))
  })
})
