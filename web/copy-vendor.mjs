// Copies the browser files web/vendor.json pins, and nothing else, from web/node_modules into
// OUT/node_modules (same layout), checking each against its sha384: the image carries these
// files without npm or the packages' other files.
// usage: node web/copy-vendor.mjs OUT
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error("usage: node copy-vendor.mjs OUT");
const { files } = JSON.parse(readFileSync(join(web, "vendor.json"), "utf8"));
for (const { package: name, path, sha384 } of files) {
  const bytes = readFileSync(join(web, "node_modules", name, path));
  const actual = createHash("sha384").update(bytes).digest("base64");
  if (actual !== sha384) throw new Error(`${name}/${path}: sha384 ${actual}, pinned ${sha384}`);
  const target = join(out, "node_modules", name, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, bytes);
}
