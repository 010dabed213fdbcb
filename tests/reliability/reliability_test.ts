/**
 * The reliability suite: the kit as a whole against responses that are not what
 * was asked, bad inputs, kills and a canary key, ending in one summary line.
 * The sections run in this order (tests of one module run in registration order).
 */
import "./_responses.ts";
import "./_limits.ts";
import "./_inputs.ts";
import "./_kills.ts";
import "./_post.ts";
import "./_secrets.ts";
