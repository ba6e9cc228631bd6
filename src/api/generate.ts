/**
 * `npm run generate`: writes `deploy/crds/<plural>.yaml` from the Schemas (and nothing else), and
 * `deploy/crds/kustomization.yaml` listing them. Run it after changing anything in `src/api`.
 *
 * @since 0.1.0
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { renderCrdFiles } from "./crdFiles.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const dir = join(root, "deploy", "crds")
mkdirSync(dir, { recursive: true })
for (const [name, text] of renderCrdFiles()) {
  writeFileSync(join(dir, name), text)
  console.log(`wrote deploy/crds/${name}`)
}
