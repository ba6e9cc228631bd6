/**
 * `npm run generate`: writes `deploy/crds/<plural>.yaml` from the Schemas with `deploy/crds/kustomization.yaml`,
 * and the installation (`deploy/rbac`, `deploy/manager`, `deploy/default`, `dist/install.yaml`) from
 * src/api/install.ts, src/api/rbac.ts and the package version. Run it after changing anything in `src/api`.
 *
 * @since 0.1.0
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { renderCrdFiles } from "./crdFiles.ts"
import { renderDeployFiles } from "./deployFiles.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const write = (path: string, text: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true })
  writeFileSync(join(root, path), text)
  console.log(`wrote ${path}`)
}
for (const [name, text] of renderCrdFiles()) write(`deploy/crds/${name}`, text)
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
for (const [path, text] of renderDeployFiles(version)) write(path, text)
