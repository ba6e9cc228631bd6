/**
 * `npm run sandbox [-- --keep] [--rbac] [--state-dir=DIR] [--object-store=auto|rgw|s3rver|none]`: runs the sandbox
 * in the foreground (`--rbac`: the API server authenticates and authorizes every request; the kubeconfig is the
 * admin's). When everything is up it prints `KUBECONFIG=<path>` and `S3_ENDPOINT=<url>` (then the bucket,
 * region and credentials Secret) on stdout; SIGINT or SIGTERM stops every process it started and removes its
 * state directory unless `--keep`.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Sandbox, type SandboxOptions, sandboxCredentialsSecret } from "./Sandbox.ts"

const usage = `Usage: npm run sandbox -- [--keep] [--rbac] [--state-dir=DIR] [--object-store=auto|rgw|s3rver|none]`

const parse = (argv: ReadonlyArray<string>): SandboxOptions | string => {
  let options: SandboxOptions = {}
  for (const arg of argv) {
    if (arg === "--keep") options = { ...options, keep: true }
    else if (arg === "--rbac") options = { ...options, rbac: true }
    else if (arg.startsWith("--state-dir=")) options = { ...options, stateDir: arg.slice("--state-dir=".length) }
    else if (arg.startsWith("--object-store=")) {
      const value = arg.slice("--object-store=".length)
      if (value !== "auto" && value !== "rgw" && value !== "s3rver" && value !== "none")
        return `unknown object store ${value}`
      options = { ...options, objectStore: value }
    } else return `unknown argument ${arg}`
  }
  return options
}

const options = parse(process.argv.slice(2))
if (typeof options === "string") {
  process.stderr.write(`${options}\n${usage}\n`)
  process.exit(2)
}

const announce = Effect.gen(function* () {
  const sandbox = yield* Sandbox
  const lines = [`KUBECONFIG=${sandbox.kubeconfig}`]
  if (sandbox.objectStore !== undefined) {
    lines.push(
      `S3_ENDPOINT=${sandbox.objectStore.endpoint}`,
      `S3_BUCKET=${sandbox.objectStore.bucket}`,
      `S3_REGION=${sandbox.objectStore.region}`,
      `S3_CREDENTIALS_SECRET=default/${sandboxCredentialsSecret}`
    )
  }
  lines.push(`SANDBOX_STATE_DIR=${sandbox.stateDir}`, `SANDBOX_POD_NETWORK=127.${sandbox.addressBlock}.0.0/16`)
  process.stdout.write(`${lines.join("\n")}\n`)
  process.stderr.write("sandbox ready; Ctrl-C stops it\n")
  return yield* Effect.never
})

NodeRuntime.runMain(announce.pipe(Effect.provide(Layer.fresh(Sandbox.layer(options)))))
