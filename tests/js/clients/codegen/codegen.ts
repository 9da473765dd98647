import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "schema.graphql", // the API's checked-in SDL (or its URL)
  documents: ["operations/*.graphql", "src/**/*.ts", "!src/gql/**"],
  generates: {
    "src/gql/": {
      preset: "client",
      config: {
        strictScalars: true, // a new custom scalar fails the build until it is mapped here
        scalars: { DateTime: "string", Upload: "File" },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
