import assert from "node:assert/strict";
import OpenAI from "openai";
import { judgeVideo } from "../lib/videos/judge.ts";
import { parseFaultRates, startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { buildLabelRequest, parseLabelAnswer } from "../lib/labels/protocol.ts";
import { loadVideo } from "../lib/videos/video.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { FAKE_KEY, GRID } from "./_label_fixtures.ts";
import { SHARED_VIDEOS } from "./_helpers.ts";

const TEXT = "three yellow triangles moving right quickly on a black background";

Deno.test("the server judges the pixels it receives: same labels as the reference judge", async () => {
  const server = startJudgeServer({ port: 0 });
  try {
    const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
    const { video } = renderClip(parsePrompt(TEXT), { seed: 4 });
    const body = buildLabelRequest(video, TEXT, GRID);
    // deno-lint-ignore no-explicit-any
    const completion = await client.chat.completions.create(body as any);
    const labels = parseLabelAnswer(completion.choices[0].message.content!, GRID, 16);
    const reference = judgeVideo(video, TEXT, GRID);
    assert.deepEqual(labels.patches, reference.patches);
    assert.deepEqual(labels.video, reference.video);
    assert.ok(completion.usage!.prompt_tokens > 1000);
  } finally {
    await server.close();
  }
});

Deno.test("bias and noise change the answers; labels stay valid", async () => {
  const { video } = renderClip(parsePrompt(TEXT), { seed: 4 });
  const body = buildLabelRequest(video, TEXT, GRID);
  for (
    const [options, check] of [
      [{ bias: -5 }, (s: number[]) => s.every((v) => v === 1)],
      [{ noise: 1, seed: 3 }, (s: number[]) => new Set(s).size >= 3],
    ] as const
  ) {
    const server = startJudgeServer({ port: 0, ...options });
    try {
      const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
      // deno-lint-ignore no-explicit-any
      const completion = await client.chat.completions.create(body as any);
      const labels = parseLabelAnswer(completion.choices[0].message.content!, GRID, 16);
      assert.ok(
        check(labels.patches.flatMap((p) => Object.values(p.scores))),
        JSON.stringify(options),
      );
    } finally {
      await server.close();
    }
  }
});

Deno.test("noise depends on the seed and the request, not on arrival order or retries", async () => {
  const bodies = [4, 5].map((seed) =>
    buildLabelRequest(renderClip(parsePrompt(TEXT), { seed }).video, TEXT, GRID)
  );
  const ask = async (serverSeed: number, order: number[]) => {
    const server = startJudgeServer({ port: 0, noise: 1, seed: serverSeed });
    try {
      const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
      const answers: string[] = [];
      for (const i of order) {
        // deno-lint-ignore no-explicit-any
        const c = await client.chat.completions.create(bodies[i] as any);
        answers.push(c.choices[0].message.content!);
      }
      return answers;
    } finally {
      await server.close();
    }
  };
  const forward = await ask(7, [0, 1]);
  const backward = await ask(7, [1, 0]);
  assert.notEqual(forward[0], forward[1]);
  assert.deepEqual(backward.reverse(), forward, "same seed, other order: same answers");
  assert.deepEqual(await ask(7, [0, 0]), [forward[0], forward[0]], "a repeat gets the same answer");
  assert.notDeepEqual(await ask(8, [0, 1]), forward, "another seed draws other noise");
});

Deno.test("real footage gets a valid generic answer; HTTP errors are OpenAI-shaped", async () => {
  const server = startJudgeServer({ port: 0, faults: { script: ["429"], retryAfterS: 7 } });
  try {
    const video = await loadVideo(`${SHARED_VIDEOS}duck.gif`);
    const body = buildLabelRequest(video, "a yellow rubber duck", GRID);
    const post = (b: unknown, auth = true) =>
      fetch(`${server.url}/chat/completions`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(auth ? { authorization: `Bearer ${FAKE_KEY}` } : {}),
        },
        body: JSON.stringify(b),
      });
    const limited = await post(body);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "7");
    assert.match((await limited.json()).error.message, /Rate limit/);
    const ok = await post(body);
    assert.equal(ok.status, 200);
    const labels = parseLabelAnswer((await ok.json()).choices[0].message.content, GRID, 16);
    assert.equal(labels.patches.length, 64);
    const unauthorised = await post(body, false);
    assert.equal(unauthorised.status, 401);
    const text = await unauthorised.text();
    assert.ok(!text.includes(FAKE_KEY));
    const notProtocol = await post({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(notProtocol.status, 400);
    assert.match((await notProtocol.json()).error.message, /Expected "json_schema"/);
    const missing = await fetch(`${server.url}/nothing`, {
      headers: { authorization: "Bearer x" },
    });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("files round-trip and batches run in the background", async () => {
  const server = startJudgeServer({ port: 0, batchStepMs: 5 });
  try {
    const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
    const { video } = renderClip(parsePrompt(TEXT), { seed: 4 });
    const line = JSON.stringify({
      custom_id: "a",
      method: "POST",
      url: "/v1/chat/completions",
      body: buildLabelRequest(video, TEXT, GRID),
    });
    const file = await client.files.create({
      file: new File([line + "\n"], "in.jsonl"),
      purpose: "batch",
    });
    assert.equal(await (await client.files.content(file.id)).text(), line + "\n");
    let batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    assert.equal(batch.status, "validating");
    while (batch.status !== "completed") {
      await new Promise((r) => setTimeout(r, 10));
      batch = await client.batches.retrieve(batch.id);
    }
    assert.deepEqual(batch.request_counts, { total: 1, completed: 1, failed: 0 });
    const out = JSON.parse(await (await client.files.content(batch.output_file_id!)).text());
    assert.equal(out.custom_id, "a");
    assert.equal(out.response.status_code, 200);
  } finally {
    await server.close();
  }
});

Deno.test("fault rates parse with clear errors", () => {
  assert.deepEqual(parseFaultRates("429:0.1, 500:0.05"), { "429": 0.1, "500": 0.05 });
  assert.throws(() => parseFaultRates("teapot:0.1"), /--faults: Expected kinds/);
  assert.throws(() => parseFaultRates("429:2"), /Expected a rate in \[0, 1\]/);
  assert.throws(
    () => startJudgeServer({ port: 0, faults: { script: ["boom" as "ok"] } }),
    /faults\.script/,
  );
});
