/** The flags of `cloudnative-mysql controller`: listener addresses (including the Deployment's `$(POD_IP):port`), --controllers. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Address, InvalidControllerFlag, toConfig } from "../../src/controller/flags.ts"
import { Metrics } from "../../src/controller/Metrics.ts"
import { runController } from "../../src/controller/main.ts"

const flags = {
  kubeconfig: Option.none(),
  context: Option.none(),
  namespaces: "",
  metricsAddress: "127.0.0.1:0",
  probeAddress: "127.0.0.1:0",
  leaderElect: false,
  leaderElectionNamespace: "default",
  leaderElectionId: "cnm",
  workers: "",
  controllers: ""
}

describe("controller flags", () => {
  it.effect("--controllers: a comma-separated selection, empty for all", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual((yield* toConfig(flags)).controllers, [])
      assert.deepStrictEqual((yield* toConfig({ ...flags, controllers: " backup, scheduled-backup ," })).controllers, [
        "backup",
        "scheduled-backup"
      ])
    })
  )

  it.effect("a controller name the process does not have is refused before anything starts, like --workers", () =>
    Effect.gen(function* () {
      const config = yield* toConfig({ ...flags, controllers: "backup,backups", workers: "cluster=2" })
      const error = yield* Effect.flip(runController(config))
      assert.instanceOf(error, InvalidControllerFlag)
      assert.strictEqual(error instanceof InvalidControllerFlag && error.flag, "controllers")
      assert.include(error.message, "no controller named backups")
      assert.include(error.message, "backup, scheduled-backup, cluster")
    }).pipe(Effect.provide(Metrics.layer))
  )

  it("listener addresses: every interface, IPv4, bracketed and unbracketed IPv6 hosts and names", () => {
    for (const address of [
      ":8080",
      "127.0.0.1:0",
      "10.244.1.7:8080",
      "[fd00::1]:8080",
      "fd00::1:8080",
      "localhost:9"
    ]) {
      assert.isTrue(Schema.is(Address)(address), address)
    }
  })

  it("listener addresses: refused without a port, with a space, or with an unexpanded variable", () => {
    for (const address of ["8080", "127.0.0.1", "a b:80", "$(POD_IP):8080", "127.0.0.1:123456"]) {
      assert.isFalse(Schema.is(Address)(address), address)
    }
  })
})
