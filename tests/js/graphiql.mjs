// GraphiQL as a browser gets it from the app: load /graphql, type a query, run it.
// usage: node graphiql.mjs BASE_URL QUERY EXPECTED [HEADERS]  →  one JSON line: what was seen
// HEADERS (JSON) is typed into the Headers tab first.
import { emit, launch } from "./chromium.mjs";

const [base, query, expected, headers] = process.argv.slice(2);
const browser = await launch();
const { page, seen } = browser;
try {
  const response = await page.goto(new URL("/graphql", base).href, { waitUntil: "load" });
  const editor = page.locator(".graphiql-query-editor .CodeMirror").first();
  await editor.waitFor({ timeout: 20000 });
  if (headers) {
    await page.locator(".graphiql-editor-tools button[data-name=headers]").click();
    const headersEditor = page.locator(
      "section.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror",
    );
    await headersEditor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(headers);
  }
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(query);
  await page.locator(".graphiql-execute-button").click();
  const result = page.locator(".graphiql-response .CodeMirror");
  await result.getByText(expected).first().waitFor({ timeout: 20000 });
  emit({
    status: response.status(),
    csp: response.headers()["content-security-policy"],
    title: await page.title(),
    editor: await page.evaluate(() =>
      document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.getValue(),
    ),
    result: await page.evaluate(() =>
      document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue(),
    ),
    ...seen,
  });
} catch (error) {
  emit({ error: String(error), ...seen });
} finally {
  await browser.close();
}
