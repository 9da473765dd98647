// What the client checks share: one JSON line per step on stdout, every console.warn and
// console.error kept as a complaint, and an exit status of 1 when the check threw or anything
// complained.
import { format } from "node:util";

const complaints = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => complaints.push(`${level}: ${format(...args)}`);
}

export const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

export async function check(main) {
  let status = 0;
  try {
    await main();
  } catch (error) {
    say({ failed: String(error?.stack ?? error) });
    status = 1;
  }
  for (const complaint of complaints) {
    say({ console: complaint });
  }
  process.exit(complaints.length ? 1 : status);
}
