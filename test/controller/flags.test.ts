/** The listener addresses `cloudnative-mysql controller` accepts, including the Deployment's `$(POD_IP):port`. */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { Address } from "../../src/controller/flags.ts"

const accepts = Schema.is(Address)

describe("controller listener addresses", () => {
  it("accepts every interface, IPv4, bracketed and unbracketed IPv6 hosts and names", () => {
    for (const address of [":8080", "127.0.0.1:0", "10.244.1.7:8080", "[fd00::1]:8080", "fd00::1:8080", "localhost:9"]) {
      assert.isTrue(accepts(address), address)
    }
  })

  it("refuses an address without a port, with a space, or an unexpanded variable", () => {
    for (const address of ["8080", "127.0.0.1", "a b:80", "$(POD_IP):8080", "127.0.0.1:123456"]) {
      assert.isFalse(accepts(address), address)
    }
  })
})
