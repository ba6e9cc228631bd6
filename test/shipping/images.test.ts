/**
 * The Dockerfiles under images/ cannot be built here (no Docker engine), so what can be checked is checked: one
 * Dockerfile per image of src/api/images.ts, every base image pinned to an exact version of the server the table
 * names, the backup tool of the table, the operator's Node the version the project runs, non-root users, the
 * instance manager as the instance images' entrypoint, the production build layout the operator image copies, and
 * the commands images/build.sh would run.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { instanceImage, instanceImages, operatorImage } from "../../src/api/images.ts"
import { nonRootUid } from "../../src/api/install.ts"

const root = join(import.meta.dirname, "..", "..")
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string
  devDependencies: Record<string, string>
}

interface Dockerfile {
  readonly froms: ReadonlyArray<string>
  readonly args: Record<string, string>
  readonly users: ReadonlyArray<string>
  readonly entrypoint: ReadonlyArray<string>
  readonly runs: ReadonlyArray<string>
  /** The instructions after the last FROM (the image that ships). */
  readonly final: string
}

/** The instructions of a Dockerfile, continuation lines joined, comments dropped. */
const parseDockerfile = (path: string): Dockerfile => {
  const text = readFileSync(path, "utf8")
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
  const operand = (keyword: string) =>
    lines.filter((line) => line.startsWith(`${keyword} `)).map((line) => line.slice(keyword.length + 1).trim())
  const args = Object.fromEntries(
    operand("ARG")
      .filter((arg) => arg.includes("="))
      .map((arg) => [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)])
  )
  const entrypoints = operand("ENTRYPOINT")
  const lastFrom = lines.findLastIndex((line) => line.startsWith("FROM "))
  return {
    froms: operand("FROM").map((from) => from.split(/\s+/)[0] ?? ""),
    args,
    users: operand("USER"),
    entrypoint: JSON.parse(entrypoints.at(-1) ?? "[]") as ReadonlyArray<string>,
    runs: operand("RUN"),
    final: lines.slice(lastFrom).join("\n")
  }
}

/** `name:tag` with `${ARG}` substituted from the Dockerfile's defaults. */
const resolve = (reference: string, args: Record<string, string>): string =>
  reference.replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? `<unset ${name}>`)

const exactVersion = /^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/

describe("images/", () => {
  const operatorFile = parseDockerfile(join(root, "images", "operator", "Dockerfile"))

  it("one instance Dockerfile per tag of src/api/images.ts, and no other", () => {
    const dirs = readdirSync(join(root, "images", "instance")).sort()
    assert.deepStrictEqual(dirs, instanceImages.map((image) => image.tag).sort())
  })

  it("the operator image: Node of the project's version, build stage, production dependencies, no npm at run time", () => {
    assert.strictEqual(operatorFile.args.NODE_VERSION, pkg.devDependencies.node)
    for (const from of operatorFile.froms) assert.match(resolve(from, operatorFile.args), exactVersion)
    assert.isTrue(operatorFile.runs.some((run) => run.includes("npm run build")))
    assert.isTrue(operatorFile.runs.some((run) => run.includes("npm ci --omit=dev")))
    assert.include(operatorFile.final, "rm -rf /usr/local/lib/node_modules /usr/local/bin/npm")
    assert.include(operatorFile.final, "COPY --from=build /src/build/ ./")
    assert.deepStrictEqual(operatorFile.entrypoint, ["node", "--enable-source-maps", "/app/bin/cloudnative-mysql.js"])
  })

  it("the operator image copies the layout npm run build writes (build/bin/cloudnative-mysql.js)", () => {
    const build = JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as {
      compilerOptions: { outDir: string; rootDir: string }
      include: ReadonlyArray<string>
    }
    assert.strictEqual(build.compilerOptions.outDir, "build")
    assert.strictEqual(build.compilerOptions.rootDir, ".")
    assert.includeMembers([...build.include], ["bin", "src"])
    const ignore = readFileSync(join(root, ".dockerignore"), "utf8")
    for (const needed of [
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "bin/",
      "src/"
    ]) {
      assert.include(ignore, `!${needed}`)
    }
  })

  for (const image of instanceImages) {
    it(`instance image ${image.tag}: ${image.server} + ${image.backupTool}, pinned, the instance manager as entrypoint`, () => {
      const file = parseDockerfile(join(root, "images", "instance", image.tag, "Dockerfile"))
      assert.strictEqual(file.args.OPERATOR_IMAGE, operatorImage(pkg.version), "built on this release's operator image")
      const [operatorStage, base] = file.froms.map((from) => resolve(from, file.args))
      assert.strictEqual(operatorStage, operatorImage(pkg.version))
      assert.match(base ?? "", exactVersion)
      const serverVersion = image.server.split(" ").at(-1) ?? ""
      if (image.flavor === "mariadb") {
        assert.isTrue((base ?? "").startsWith(`mariadb:${serverVersion}.`), `${base} is not ${image.server}`)
        assert.isTrue(file.runs.some((run) => run.includes("mariadb-backup --version")))
      } else {
        assert.isTrue((base ?? "").startsWith(`mysql:${serverVersion}.`), `${base} is not ${image.server}`)
        const toolVersion = image.backupTool.split(" ").at(-1) ?? ""
        assert.match(
          file.args.XTRABACKUP_RPM ?? "",
          new RegExp(
            `^percona-xtrabackup-${toolVersion.replace(".", "")}-${toolVersion.replace(".", "\\.")}\\.\\d+-\\d+`
          )
        )
        assert.isTrue(file.runs.some((run) => run.includes("xtrabackup --version")))
      }
      assert.include(file.final, "COPY --from=operator /usr/local/bin/node /usr/local/bin/node")
      assert.include(file.final, "COPY --from=operator /app /app")
      assert.deepStrictEqual(file.entrypoint, [
        "node",
        "--enable-source-maps",
        "/app/bin/cloudnative-mysql.js",
        "instance"
      ])
    })
  }

  it("every image has `cloudnative-mysql` on PATH: the Pods the controller renders run it as their command", () => {
    const link = "ln -s /app/bin/cloudnative-mysql.js /usr/local/bin/cloudnative-mysql"
    assert.include(operatorFile.final, "chmod 0755 /app/bin/cloudnative-mysql.js")
    assert.include(operatorFile.final, link)
    for (const image of instanceImages) {
      const file = parseDockerfile(join(root, "images", "instance", image.tag, "Dockerfile"))
      assert.include(file.final, link, image.tag)
      assert.include(file.final, "cloudnative-mysql --help", `${image.tag}: the build starts it from PATH`)
    }
  })

  it("every image runs as the non-root uid of the Deployment", () => {
    const files = [
      join(root, "images", "operator", "Dockerfile"),
      ...instanceImages.map((image) => join(root, "images", "instance", image.tag, "Dockerfile"))
    ]
    for (const path of files) {
      assert.strictEqual(parseDockerfile(path).users.at(-1), `${nonRootUid}:${nonRootUid}`, path)
    }
  })

  it("images/build.sh builds the operator image first, then every instance image on it", () => {
    assert.isTrue(existsSync(join(root, "node_modules", ".bin", "node")))
    const printed = execFileSync(join(root, "images", "build.sh"), ["--print"], { cwd: root, encoding: "utf8" })
    const operator = operatorImage(pkg.version)
    const expected = [
      ["images/operator/Dockerfile", operator],
      ...instanceImages.map((image) => [`images/instance/${image.tag}/Dockerfile`, instanceImage(image.tag)])
    ].map(
      ([file, reference]) => `docker build --file ${file} --build-arg OPERATOR_IMAGE=${operator} --tag ${reference} .`
    )
    assert.deepStrictEqual(printed.trim().split("\n"), expected)
  })
})
