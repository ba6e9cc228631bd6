/**
 * The layering the folders promise, checked on every import in the repository (static `from "…"` and dynamic
 * `import("…")`):
 *
 * 1. `src/controller` never imports `src/pipeline`, `src/recovery` or the S3 client (`src/objectstore/s3Client.ts`,
 *    `@aws-sdk/*`): the controller-manager never handles payload bytes;
 * 2. `src/kube` never imports `src/sandbox`: production code does not depend on the fake;
 * 3. only `src/sandbox`, `src/demo`, `bench` and `test` import `src/sandbox`;
 * 4. nothing imports `src/demo` (the demo is a program; what it shares with tests and benchmarks is in
 *    `src/sandbox/`, e.g. `OperatorSandbox.ts`).
 */
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"

const root = resolve(import.meta.dirname, "..", "..")

/** One import: the importing file and what it names, both relative to the repository root for local modules. */
interface ImportEdge {
  readonly from: string
  readonly to: string
}

const importPattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/gu

/** The imports of one file's text; relative specifiers are resolved against the file's folder. */
const importsOf = (file: string, text: string): Array<ImportEdge> =>
  [...text.matchAll(importPattern)].map((match) => {
    const specifier = match[1] ?? ""
    const to = specifier.startsWith(".") ? relative(root, resolve(root, dirname(file), specifier)) : specifier
    return { from: file, to }
  })

const within = (path: string, folder: string): boolean => path === folder || path.startsWith(`${folder}/`)

/** The rules above; each violation is a sentence naming the file, the import and the rule. */
const violations = (edges: ReadonlyArray<ImportEdge>): Array<string> =>
  edges.flatMap(({ from, to }) => {
    const found: Array<string> = []
    if (
      within(from, "src/controller") &&
      (within(to, "src/pipeline") ||
        within(to, "src/recovery") ||
        to === "src/objectstore/s3Client.ts" ||
        to.startsWith("@aws-sdk/"))
    ) {
      found.push(`${from} imports ${to}: src/controller must not import the data path (pipeline, recovery, S3 client)`)
    }
    if (within(from, "src/kube") && within(to, "src/sandbox")) {
      found.push(`${from} imports ${to}: src/kube must not import src/sandbox`)
    }
    if (
      within(to, "src/sandbox") &&
      !["src/sandbox", "src/demo", "bench", "test"].some((folder) => within(from, folder))
    ) {
      found.push(`${from} imports ${to}: only src/sandbox, src/demo, bench and test may import src/sandbox`)
    }
    if (within(to, "src/demo") && !within(from, "src/demo")) {
      found.push(`${from} imports ${to}: src/demo is a program, nothing imports it`)
    }
    return found
  })

const sourceFiles = (folder: string): Array<string> =>
  readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|js)$/u.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))

describe("import boundaries", () => {
  // this file's own probes below are not imports
  const files = ["src", "test", "bench", "bin"]
    .flatMap(sourceFiles)
    .filter((f) => f !== relative(root, import.meta.filename))
  const edges = files.flatMap((file) => importsOf(file, readFileSync(join(root, file), "utf8")))

  it("the scan sees the repository's imports", () => {
    assert.isAbove(files.length, 100)
    assert.deepInclude(edges, { from: "src/sandbox/KubeApiFake.ts", to: "src/kube/KubeApi.ts" })
    assert.deepInclude(edges, { from: "src/cli/main.ts", to: "src/recovery/main.ts" })
  })

  it("no file crosses a boundary", () => {
    assert.deepStrictEqual(violations(edges), [])
  })

  it("each rule catches its violation", () => {
    const probe = (from: string, text: string) => violations(importsOf(from, text))
    assert.lengthOf(probe("src/controller/backup/render.ts", 'import { x } from "../../pipeline/worker.ts"'), 1)
    assert.lengthOf(probe("src/controller/main.ts", 'const m = await import("../recovery/main.ts")'), 1)
    assert.lengthOf(probe("src/controller/main.ts", 'import type { S } from "../objectstore/s3Client.ts"'), 1)
    assert.lengthOf(probe("src/controller/main.ts", 'import { S3Client } from "@aws-sdk/client-s3"'), 1)
    assert.lengthOf(probe("src/kube/KubeApi.ts", 'import { FakeCluster } from "../sandbox/FakeCluster.ts"'), 2)
    assert.lengthOf(probe("src/pipeline/worker.ts", 'import { freePort } from "../sandbox/ports.ts"'), 1)
    assert.lengthOf(probe("test/kube/x.test.ts", 'import { layerFake } from "../../src/sandbox/KubeApiFake.ts"'), 0)
    assert.lengthOf(probe("src/demo/run.ts", 'import { s3rver } from "../sandbox/s3rver.ts"'), 0)
    assert.lengthOf(probe("test/e2e/x.test.ts", 'import { workerEnv } from "../../src/demo/run.ts"'), 1)
    assert.lengthOf(probe("src/controller/main.ts", 'import { KubeApi } from "../kube/KubeApi.ts"'), 0)
    assert.lengthOf(probe("src/controller/main.ts", 'import "../objectstore/layout.ts"'), 0)
  })
})
