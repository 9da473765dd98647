// The operations the client checks run, read from operations/*.graphql (graphql-codegen and
// relay-compiler check the same files against schema.graphql).
import { readFileSync } from "node:fs";
import { parse } from "graphql";

export function operation(name) {
  return parse(readFileSync(new URL(`./operations/${name}.graphql`, import.meta.url), "utf8"));
}
