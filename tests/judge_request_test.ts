import assert from "node:assert/strict";
import { judgeVideo } from "../lib/videos/judge.ts";
import { judgeLabelRequest } from "../lib/labels/judge_server/request.ts";
import { buildLabelRequest } from "../lib/labels/protocol.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { GRID } from "./_label_fixtures.ts";

const TEXT = "two green triangles moving down quickly on a black background";

Deno.test("PNG strips are read back exactly: the verdict equals the reference judge's", () => {
  const { video } = renderClip(parsePrompt(TEXT), { seed: 3 });
  const { labels } = judgeLabelRequest(buildLabelRequest(video, TEXT, GRID));
  const reference = judgeVideo(video, TEXT, GRID);
  assert.deepEqual(labels.patches, reference.patches);
});

Deno.test("JPEG and low-detail requests are judged from what they show", () => {
  const { video } = renderClip(parsePrompt(TEXT), { seed: 3 });
  const reference = judgeVideo(video, TEXT, GRID);
  const agree = (options: Parameters<typeof buildLabelRequest>[3]) => {
    const { labels } = judgeLabelRequest(buildLabelRequest(video, TEXT, GRID, options));
    let same = 0, all = 0;
    labels.patches.forEach((p, i) => {
      for (const [a, v] of Object.entries(p.scores)) {
        all++;
        if (reference.patches[i].scores[a as keyof typeof p.scores] === v) same++;
      }
    });
    return same / all;
  };
  // High-quality JPEG keeps nearly every score; a very low quality loses some.
  assert.ok(agree({ imageFormat: "jpeg", jpegQuality: 90 }) >= 0.9);
  assert.ok(agree({ imageFormat: "jpeg", jpegQuality: 5 }) < agree({ imageFormat: "jpeg" }));
  // Strips under 512 px are seen whole at low detail.
  assert.equal(agree({ detail: "low", frameSide: 96 }), 1);
});

Deno.test("requests that are not labelling requests are named", () => {
  assert.throws(() => judgeLabelRequest(null), /Expected a JSON object body/);
  assert.throws(
    () => judgeLabelRequest({ messages: [], response_format: { type: "text" } }),
    /Expected "json_schema"/,
  );
  const { video } = renderClip(parsePrompt(TEXT), { seed: 3 });
  const body = buildLabelRequest(video, TEXT, GRID);
  const parts = body.messages[1].content as Array<{ type: string; image_url?: { url: string } }>;
  parts[parts.length - 1].image_url!.url = "data:image/gif;base64,AAAA";
  assert.throws(() => judgeLabelRequest(body), /strip s3: Expected a PNG or JPEG data URL/);
});
