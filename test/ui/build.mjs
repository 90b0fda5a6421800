// Bundles src/index.jsx with esbuild into dist/ (index.html, index.js, index.css, assets),
// the folder `cfeast-server --ui` serves.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";

// EUI loads its icons with import("./assets/" + name), which only webpack resolves; here every
// icon is imported up front and put in EUI's icon cache (a virtual module, imported by src/index.jsx)
const require = createRequire(import.meta.url);
const { typeToPathMap } = require("@elastic/eui/lib/components/icon/icon_map");
const euiIcons = {
  name: "eui-icons",
  setup(b) {
    b.onResolve({ filter: /^cfeast:eui-icons$/ }, (a) => ({ path: a.path, namespace: "eui-icons", pluginData: a.resolveDir }));
    b.onLoad({ filter: /.*/, namespace: "eui-icons" }, (a) => {
      const entries = Object.entries(typeToPathMap);
      const lines = entries.map(([, file], i) => `import { icon as i${i} } from "@elastic/eui/es/components/icon/assets/${file}";`);
      lines.push('import { appendIconComponentCache } from "@elastic/eui/es/components/icon/icon";');
      lines.push(`appendIconComponentCache({${entries.map(([type], i) => `${JSON.stringify(type)}: i${i}`).join(", ")}});`);
      return { contents: lines.join("\n"), resolveDir: a.pluginData, loader: "js" };
    });
  },
};

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await build({
  entryPoints: ["src/index.jsx"],
  bundle: true,
  minify: true,
  outdir: "dist",
  entryNames: "index",
  assetNames: "assets/[name]-[hash]",
  jsx: "automatic",
  // the UI reads a few Create React App variables from process.env: the feature
  // server it queries is cfeast-server itself, the origin the UI came from
  define: {
    "process.env.NODE_ENV": '"production"',
    "process.env.PUBLIC_URL": '""',
    "process.env.REACT_APP_FEAST_FEATURE_SERVER_URL": "window.location.origin",
  },
  banner: { js: "var process = { env: {} };" },
  loader: { ".svg": "file", ".png": "file", ".woff": "file", ".woff2": "file", ".ttf": "file" },
  plugins: [euiIcons],
  logLevel: "warning",
});
copyFileSync("index.html", "dist/index.html");
