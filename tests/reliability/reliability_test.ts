/**
 * The reliability suite: the kit as a whole against responses that are not what
 * was asked, bad inputs, kills and a canary key, ending in one summary line.
 *
 * Tests run in registration order, and a module registers when it is evaluated:
 * sections that load the kit's backend (a top-level await) may register after
 * later imports. The key scan and the summary are registered here, in this
 * module's body, which runs after every import has finished: they run last.
 */
import "./_responses.ts";
import "./_limits.ts";
import "./_inputs.ts";
import "./_kills.ts";
import "./_post.ts";
import { scanForKey, summary } from "./_secrets.ts";

Deno.test(
  "secrets: the canary key is in no file the suite wrote (labels, caches, checkpoints, logs) and no output",
  scanForKey,
);

Deno.test(
  "summary: inputs, faults, kill/resume cycles, items lost, items paid twice, key leaks",
  summary,
);
